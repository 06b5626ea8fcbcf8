// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {SequencerInbox} from "./SequencerInbox.sol";
import {BondVault} from "./libraries/BondVault.sol";

/// @title Rollup
/// @notice Bonded state assertions over the SequencerInbox, each confirmed once its challenge
///         period has passed undisputed. A confirmed assertion's outbox root is what the Bridge
///         pays withdrawals against.
/// @dev Assertions form a tree rooted at the genesis assertion 0. Confirmed assertions always form
///      a single chain ending at latestConfirmed, because an assertion is confirmed only when its
///      parent is confirmed and it is the parent's only child that has not been rejected. Two live
///      siblings therefore block each other until the DisputeGame rejects the wrong one
///      (docs/disputes.md). An assertion also claims the number of VM steps from its parent's state
///      to its own, which is the range the game bisects.
contract Rollup is Ownable, BondVault {
    /// @notice Lifecycle of an assertion.
    enum AssertionStatus {
        None,
        Pending,
        Confirmed,
        Rejected
    }

    /// @notice One state claim.
    /// @custom:field parentId           The assertion this one extends.
    /// @custom:field stateRoot          keccak256(moduleRoot ‖ machineRoot ‖ inboxPosition ‖ outboxRoot).
    /// @custom:field machineRoot        The engine's machine root after inboxPosition batches.
    /// @custom:field outboxRoot         The withdrawal tree root after inboxPosition batches.
    /// @custom:field proposer           Who posted it and gets the bond back on confirmation.
    /// @custom:field inboxPosition      Batches consumed.
    /// @custom:field steps              VM steps from the parent's state root to this one (any count at
    ///                                  or above the true one is a true claim: the trace is padded).
    /// @custom:field status             Pending, Confirmed or Rejected.
    /// @custom:field createdAt          Block time of creation; starts the challenge period.
    /// @custom:field childCount         Assertions created on top of this one.
    /// @custom:field rejectedChildCount Of those, how many were rejected.
    /// @custom:field bond               Wei locked by the proposer.
    struct Assertion {
        uint256 parentId;
        bytes32 stateRoot;
        bytes32 machineRoot;
        bytes32 outboxRoot;
        address proposer;
        uint64 inboxPosition;
        uint64 steps;
        AssertionStatus status;
        uint64 createdAt;
        uint64 childCount;
        uint64 rejectedChildCount;
        uint256 bond;
    }

    /// @notice The inbox whose batches assertions consume.
    SequencerInbox public immutable inbox;

    /// @notice Hash of the state transition function (docs/protocol.md §9).
    bytes32 public immutable moduleRoot;

    /// @notice Seconds an assertion must wait, undisputed, before it can be confirmed.
    uint64 public immutable challengePeriod;

    /// @notice Wei every assertion must lock.
    uint256 public immutable bond;

    /// @notice The dispute game, the only contract that can reject assertions. Set once.
    address public disputeGame;

    /// @notice The newest confirmed assertion.
    uint256 public latestConfirmed;

    /// @notice Accounts allowed to create assertions.
    mapping(address account => bool allowed) public isValidator;

    /// @notice Games the dispute game is currently playing over each assertion; while any is open
    ///         the assertion cannot be confirmed.
    mapping(uint256 id => uint256 games) public openDisputes;

    /// @notice Who received a rejected assertion's bond; its descendants' bonds follow it there.
    mapping(uint256 id => address recipient) public rejectedBondRecipient;

    Assertion[] private _assertions;

    /// @dev keccak256(parentId, stateRoot) => id + 1, so an identical retry cannot create a
    ///      sibling that would block its own twin's confirmation.
    mapping(bytes32 key => uint256 idPlusOne) private _assertionByKey;

    /// @notice An assertion was created.
    /// @param id            The new assertion.
    /// @param parentId      The assertion it extends.
    /// @param stateRoot     Its state root.
    /// @param machineRoot   Its machine root.
    /// @param inboxPosition Batches consumed.
    /// @param outboxRoot    Its withdrawal tree root.
    /// @param proposer      Who posted it.
    /// @param steps         VM steps claimed from the parent's state root to this one.
    event AssertionCreated(
        uint256 indexed id,
        uint256 indexed parentId,
        bytes32 stateRoot,
        bytes32 machineRoot,
        uint64 inboxPosition,
        bytes32 outboxRoot,
        address proposer,
        uint64 steps
    );

    /// @notice An assertion was confirmed; withdrawals under its outbox root may now be paid.
    /// @param id         The assertion.
    /// @param stateRoot  Its state root.
    /// @param outboxRoot Its withdrawal tree root.
    event AssertionConfirmed(uint256 indexed id, bytes32 stateRoot, bytes32 outboxRoot);

    /// @notice An assertion was rejected: by the dispute game, or because its parent was.
    /// @param id            The assertion.
    /// @param bondRecipient Who received its bond.
    event AssertionRejected(uint256 indexed id, address bondRecipient);

    /// @notice A validator was added or removed.
    /// @param account The validator.
    /// @param allowed Whether it may create assertions.
    event ValidatorSet(address indexed account, bool allowed);

    /// @notice The dispute game was wired in.
    /// @param disputeGame The dispute game contract.
    event DisputeGameSet(address disputeGame);

    /// @notice The dispute game opened a game over an assertion.
    /// @param id    The assertion.
    /// @param games Games now open over it.
    event DisputeOpened(uint256 indexed id, uint256 games);

    /// @notice The dispute game finished a game over an assertion.
    /// @param id    The assertion.
    /// @param games Games still open over it.
    event DisputeClosed(uint256 indexed id, uint256 games);

    /// @notice Caller is not an allowed validator.
    error NotValidator(address account);
    /// @notice Caller is not the dispute game.
    error NotDisputeGame();
    /// @notice msg.value differs from the bond.
    error WrongBond(uint256 expected, uint256 got);
    /// @notice No assertion with this id.
    error UnknownAssertion(uint256 id);
    /// @notice The parent was rejected, so nothing can extend it.
    error ParentRejected(uint256 parentId);
    /// @notice An assertion must consume at least one batch more than its parent.
    error InboxPositionNotAfterParent(uint64 parentPosition, uint64 got);
    /// @notice An assertion cannot consume batches that have not been posted.
    error InboxPositionBeyondInbox(uint256 batchCount, uint64 got);
    /// @notice The same (parent, state root) was already asserted.
    error AssertionExists(uint256 existingId);
    /// @notice The assertion is not pending.
    error NotPending(uint256 id);
    /// @notice The parent is not confirmed yet.
    error ParentNotConfirmed(uint256 parentId);
    /// @notice The challenge period has not passed.
    error ChallengePeriodNotOver(uint256 readyAt);
    /// @notice A live sibling competes with the assertion; only the dispute game can settle it.
    error CompetingSiblings(uint256 parentId);
    /// @notice The dispute game is deciding this assertion.
    error AssertionInDispute(uint256 id);
    /// @notice The assertion is not confirmed.
    error NotConfirmed(uint256 id);
    /// @notice setDisputeGame was already called.
    error DisputeGameAlreadySet();
    /// @notice A zero address where one is required.
    error ZeroAddress();
    /// @notice An assertion must claim at least one step.
    error ZeroSteps();
    /// @notice Disputes over this assertion can no longer be opened.
    error ChallengeDeadlinePassed(uint256 deadline);
    /// @notice disputeClosed without a matching disputeOpened.
    error NoOpenDispute(uint256 id);
    /// @notice rejectDescendant on an assertion whose parent is not rejected.
    error ParentNotRejected(uint256 parentId);

    modifier onlyDisputeGame() {
        if (msg.sender != disputeGame) revert NotDisputeGame();
        _;
    }

    /// @param inbox_              The SequencerInbox.
    /// @param moduleRoot_         Hash of the state transition function.
    /// @param challengePeriod_    Seconds before an assertion can be confirmed.
    /// @param bond_               Wei per assertion.
    /// @param owner_              Manages validators and wires in the dispute game.
    /// @param validators          Initial validator allowlist.
    /// @param genesisMachineRoot  Machine root after `init` (assertion 0).
    /// @param genesisOutboxRoot   Outbox root after `init` (the empty tree).
    constructor(
        address inbox_,
        bytes32 moduleRoot_,
        uint64 challengePeriod_,
        uint256 bond_,
        address owner_,
        address[] memory validators,
        bytes32 genesisMachineRoot,
        bytes32 genesisOutboxRoot
    ) Ownable(owner_) {
        if (inbox_ == address(0)) revert ZeroAddress();
        inbox = SequencerInbox(inbox_);
        moduleRoot = moduleRoot_;
        challengePeriod = challengePeriod_;
        bond = bond_;
        for (uint256 i = 0; i < validators.length; ++i) {
            isValidator[validators[i]] = true;
            emit ValidatorSet(validators[i], true);
        }

        bytes32 stateRoot = _stateRoot(moduleRoot_, genesisMachineRoot, 0, genesisOutboxRoot);
        _assertions.push(
            Assertion({
                parentId: 0,
                stateRoot: stateRoot,
                machineRoot: genesisMachineRoot,
                outboxRoot: genesisOutboxRoot,
                proposer: address(0),
                inboxPosition: 0,
                steps: 0,
                status: AssertionStatus.Confirmed,
                createdAt: uint64(block.timestamp),
                childCount: 0,
                rejectedChildCount: 0,
                bond: 0
            })
        );
        emit AssertionCreated(0, 0, stateRoot, genesisMachineRoot, 0, genesisOutboxRoot, address(0), 0);
        emit AssertionConfirmed(0, stateRoot, genesisOutboxRoot);
    }

    // ---------------------------------------------------------------------------------------------
    // Assertions

    /// @notice Claims the state after `inboxPosition` batches, extending `parentId`, and locks the
    ///         bond until the claim is confirmed or rejected.
    /// @param parentId      An existing, non-rejected assertion.
    /// @param machineRoot   The engine's machine root after inboxPosition batches.
    /// @param inboxPosition Batches consumed; above the parent's, at most inbox.batchCount().
    /// @param outboxRoot    The withdrawal tree root after inboxPosition batches.
    /// @param steps         VM steps from the parent's state root to this one; the range a dispute
    ///                      bisects. Honest proposers post the exact count.
    /// @return id The new assertion.
    function createAssertion(uint256 parentId, bytes32 machineRoot, uint64 inboxPosition, bytes32 outboxRoot, uint64 steps)
        external
        payable
        returns (uint256 id)
    {
        if (!isValidator[msg.sender]) revert NotValidator(msg.sender);
        // Zero steps would leave the game no step to prove: the parent's root would have to equal ours.
        if (steps == 0) revert ZeroSteps();
        if (msg.value != bond) revert WrongBond(bond, msg.value);
        Assertion storage parent = _get(parentId);
        if (parent.status == AssertionStatus.Rejected) revert ParentRejected(parentId);
        if (inboxPosition <= parent.inboxPosition) revert InboxPositionNotAfterParent(parent.inboxPosition, inboxPosition);
        uint256 batches = inbox.batchCount();
        if (inboxPosition > batches) revert InboxPositionBeyondInbox(batches, inboxPosition);

        bytes32 stateRoot = _stateRoot(moduleRoot, machineRoot, inboxPosition, outboxRoot);
        bytes32 key = keccak256(abi.encode(parentId, stateRoot));
        uint256 existing = _assertionByKey[key];
        if (existing != 0) revert AssertionExists(existing - 1);

        id = _assertions.length;
        _assertionByKey[key] = id + 1;
        parent.childCount += 1;
        _assertions.push(
            Assertion({
                parentId: parentId,
                stateRoot: stateRoot,
                machineRoot: machineRoot,
                outboxRoot: outboxRoot,
                proposer: msg.sender,
                inboxPosition: inboxPosition,
                steps: steps,
                status: AssertionStatus.Pending,
                createdAt: uint64(block.timestamp),
                childCount: 0,
                rejectedChildCount: 0,
                bond: msg.value
            })
        );
        emit AssertionCreated(id, parentId, stateRoot, machineRoot, inboxPosition, outboxRoot, msg.sender, steps);
    }

    /// @notice Confirms a pending assertion whose challenge period has passed with no dispute and
    ///         no live competitor, and returns its bond to the proposer.
    /// @param id The assertion; its parent must be confirmed.
    function confirmAssertion(uint256 id) external {
        Assertion storage a = _get(id);
        if (a.status != AssertionStatus.Pending) revert NotPending(id);
        Assertion storage parent = _assertions[a.parentId];
        if (parent.status != AssertionStatus.Confirmed) revert ParentNotConfirmed(a.parentId);
        if (openDisputes[id] != 0) revert AssertionInDispute(id);
        uint256 readyAt = uint256(a.createdAt) + challengePeriod;
        if (block.timestamp < readyAt) revert ChallengePeriodNotOver(readyAt);
        if (parent.childCount - parent.rejectedChildCount != 1) revert CompetingSiblings(a.parentId);

        a.status = AssertionStatus.Confirmed;
        latestConfirmed = id;
        uint256 amount = a.bond;
        a.bond = 0;
        emit AssertionConfirmed(id, a.stateRoot, a.outboxRoot);
        _payBond(a.proposer, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Dispute game entry points

    /// @notice Wires in the dispute game. Once only, so the owner cannot later swap in a game that
    ///         rejects honest assertions.
    /// @param game The dispute game contract.
    function setDisputeGame(address game) external onlyOwner {
        if (disputeGame != address(0)) revert DisputeGameAlreadySet();
        if (game == address(0)) revert ZeroAddress();
        disputeGame = game;
        emit DisputeGameSet(game);
    }

    /// @notice Records that a game over a pending assertion has started, which holds back its
    ///         confirmation. Only before the challenge deadline, so that an assertion's
    ///         confirmation is delayed by at most the game's clocks after it (docs/disputes.md).
    /// @param id A pending assertion.
    function disputeOpened(uint256 id) external onlyDisputeGame {
        Assertion storage a = _get(id);
        if (a.status != AssertionStatus.Pending) revert NotPending(id);
        uint256 deadline = uint256(a.createdAt) + challengePeriod;
        if (block.timestamp >= deadline) revert ChallengeDeadlinePassed(deadline);
        uint256 games = openDisputes[id] + 1;
        openDisputes[id] = games;
        emit DisputeOpened(id, games);
    }

    /// @notice Records that a game over an assertion has ended, whatever its outcome and whatever
    ///         the assertion's status by then (another game may have rejected it meanwhile).
    /// @param id An assertion with an open game.
    function disputeClosed(uint256 id) external onlyDisputeGame {
        uint256 games = openDisputes[id];
        if (games == 0) revert NoOpenDispute(id);
        openDisputes[id] = games - 1;
        emit DisputeClosed(id, games - 1);
    }

    /// @notice Rejects a pending assertion that lost its dispute, and pays its bond to the winner.
    /// @param id            A pending assertion.
    /// @param bondRecipient Who receives the bond (and, through rejectDescendant, its descendants').
    function rejectAssertion(uint256 id, address bondRecipient) external onlyDisputeGame {
        Assertion storage a = _get(id);
        if (a.status != AssertionStatus.Pending) revert NotPending(id);
        _reject(id, a, bondRecipient);
    }

    /// @notice Rejects a pending assertion whose parent was rejected: it extends a false state, so
    ///         it falls with it, and its bond goes where the parent's went. Anyone may call it.
    /// @param id A pending assertion with a rejected parent.
    function rejectDescendant(uint256 id) external {
        Assertion storage a = _get(id);
        if (a.status != AssertionStatus.Pending) revert NotPending(id);
        if (_assertions[a.parentId].status != AssertionStatus.Rejected) revert ParentNotRejected(a.parentId);
        _reject(id, a, rejectedBondRecipient[a.parentId]);
    }

    /// @dev Freeing the (parent, state root) key lets the honest proposer post the same root again
    ///      as a sibling, e.g. after an assertion with the right root but too few steps lost.
    function _reject(uint256 id, Assertion storage a, address bondRecipient) private {
        a.status = AssertionStatus.Rejected;
        rejectedBondRecipient[id] = bondRecipient;
        _assertions[a.parentId].rejectedChildCount += 1;
        delete _assertionByKey[keccak256(abi.encode(a.parentId, a.stateRoot))];
        uint256 amount = a.bond;
        a.bond = 0;
        emit AssertionRejected(id, bondRecipient);
        _payBond(bondRecipient, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Administration

    /// @notice Adds or removes a validator.
    /// @param account  The validator.
    /// @param allowed  Whether it may create assertions.
    function setValidator(address account, bool allowed) external onlyOwner {
        isValidator[account] = allowed;
        emit ValidatorSet(account, allowed);
    }

    // ---------------------------------------------------------------------------------------------
    // Views

    /// @notice The state root formula of docs/protocol.md §9 under this rollup's moduleRoot.
    /// @param machineRoot   The engine's machine root.
    /// @param inboxPosition Batches consumed.
    /// @param outboxRoot    The withdrawal tree root.
    function computeStateRoot(bytes32 machineRoot, uint64 inboxPosition, bytes32 outboxRoot) external view returns (bytes32) {
        return _stateRoot(moduleRoot, machineRoot, inboxPosition, outboxRoot);
    }

    /// @notice The time from which no dispute can be opened over an assertion (and from which,
    ///         with no game open and no live sibling, it can be confirmed).
    /// @param id An assertion id below assertionCount().
    function challengeDeadline(uint256 id) external view returns (uint256) {
        return uint256(_get(id).createdAt) + challengePeriod;
    }

    /// @notice Everything stored about an assertion.
    /// @param id An assertion id below assertionCount().
    function getAssertion(uint256 id) external view returns (Assertion memory) {
        return _get(id);
    }

    /// @notice Number of assertions, genesis included.
    function assertionCount() external view returns (uint256) {
        return _assertions.length;
    }

    /// @notice Whether assertion `id` is confirmed (false for unknown ids).
    /// @param id Any assertion id.
    function isConfirmed(uint256 id) external view returns (bool) {
        return id < _assertions.length && _assertions[id].status == AssertionStatus.Confirmed;
    }

    /// @notice The outbox root of a confirmed assertion; reverts for any other.
    /// @param id A confirmed assertion.
    function confirmedOutboxRoot(uint256 id) external view returns (bytes32) {
        if (id >= _assertions.length || _assertions[id].status != AssertionStatus.Confirmed) revert NotConfirmed(id);
        return _assertions[id].outboxRoot;
    }

    function _get(uint256 id) private view returns (Assertion storage) {
        if (id >= _assertions.length) revert UnknownAssertion(id);
        return _assertions[id];
    }

    function _stateRoot(bytes32 moduleRoot_, bytes32 machineRoot, uint64 inboxPosition, bytes32 outboxRoot)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked(moduleRoot_, machineRoot, inboxPosition, outboxRoot));
    }
}

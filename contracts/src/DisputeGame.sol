// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Rollup} from "./Rollup.sol";
import {BondVault} from "./libraries/BondVault.sol";
import {ExecutionContext} from "./osp/IOneStepProver.sol";
import {OneStepProofEntry} from "./osp/OneStepProofEntry.sol";

/// @title DisputeGame
/// @notice Two-party games that decide whether an assertion's state root is the VM's machine hash
///         after `steps` steps from its parent's state root (docs/disputes.md). The parties take
///         turns narrowing the disputed step range with D-ary bisections until one step remains,
///         which OneStepProofEntry executes on L1. Each party has a chess clock; a party whose
///         clock runs out loses.
/// @dev A segment [start, start + len] is split into k = min(D, len) parts at the points
///      p_j = start + len * j / k (j = 0..k). A bisection is the k + 1 machine hashes at those
///      points, committed to as keccak256(abi.encodePacked(uint64 start, uint64 len, hashes)).
///      Every move agrees with the first hash of a part of the opponent's last bisection and
///      disagrees with its last, so the disagreement always sits inside the part being played.
///      Only the commitment is stored: each move re-supplies the opponent's hashes in calldata and
///      the events carry every hash, so an off-chain player never needs a storage read.
contract DisputeGame is BondVault {
    /// @notice The module constants of every ExecutionContext (IOneStepProver.sol); they must hash
    ///         to the Rollup's moduleRoot (executor/vm/module.ts moduleRoot).
    struct ModuleConstants {
        bytes32 codeRoot;
        bytes32 tableRoot;
        uint32 tableSize;
        uint32 entryFunction;
        uint32 outboxRootPtr;
        uint32 maxMemoryPages;
    }

    /// @notice Lifecycle of a game.
    enum GameStatus {
        None,
        Active,
        ChallengerWon,
        AsserterWon,
        Closed
    }

    /// @notice How a game ended.
    enum Reason {
        OneStepProof,
        Timeout,
        AssertionGone
    }

    /// @notice One game.
    /// @custom:field assertionId        The disputed assertion.
    /// @custom:field commitment         keccak256(start, len, hashes) of the latest bisection.
    /// @custom:field challenger         Opened the game and locked challengeBond.
    /// @custom:field lastMoveAt         Block time of the latest move; the mover's clock runs since.
    /// @custom:field asserter           The assertion's proposer.
    /// @custom:field challengerTimeLeft Seconds left on the challenger's clock at lastMoveAt.
    /// @custom:field start              First step of the segment the latest bisection split.
    /// @custom:field len                Its length in steps.
    /// @custom:field asserterTimeLeft   Seconds left on the asserter's clock at lastMoveAt.
    /// @custom:field asserterToMove     Whose turn it is.
    /// @custom:field status             Active until resolved.
    struct Game {
        uint256 assertionId;
        bytes32 commitment;
        address challenger;
        uint64 lastMoveAt;
        address asserter;
        uint64 challengerTimeLeft;
        uint64 start;
        uint64 len;
        uint64 asserterTimeLeft;
        bool asserterToMove;
        GameStatus status;
    }

    /// @notice The largest bisection degree: a bisection of D + 1 hashes stays a small calldata.
    uint256 public constant MAX_DEGREE = 64;

    /// @notice The rollup whose assertions are disputed.
    Rollup public immutable rollup;
    /// @notice Executes the final step.
    OneStepProofEntry public immutable osp;
    /// @notice Parts per bisection.
    uint256 public immutable degree;
    /// @notice Seconds each party may spend in total on its moves.
    uint64 public immutable clockSeconds;
    /// @notice Wei a challenger locks per game.
    uint256 public immutable challengeBond;

    bytes32 private immutable _codeRoot;
    bytes32 private immutable _tableRoot;
    uint32 private immutable _tableSize;
    uint32 private immutable _entryFunction;
    uint32 private immutable _outboxRootPtr;
    uint32 private immutable _maxMemoryPages;

    Game[] private _games;

    /// @notice A challenger opened a game. Its bisection follows as a Bisected event.
    /// @param gameId        The new game.
    /// @param assertionId   The disputed assertion.
    /// @param challenger    Who opened it.
    /// @param asserter      The assertion's proposer, to move next.
    /// @param steps         The disputed range [0, steps].
    /// @param startHash     The parent's state root (the machine hash at step 0).
    /// @param endHash       The assertion's state root (the asserter's hash at step `steps`).
    /// @param batchLimit    The assertion's inbox position (the one-step proofs' batch limit).
    event GameCreated(
        uint256 indexed gameId,
        uint256 indexed assertionId,
        address indexed challenger,
        address asserter,
        uint64 steps,
        bytes32 startHash,
        bytes32 endHash,
        uint64 batchLimit
    );

    /// @notice A party posted a bisection; the opponent moves next.
    /// @param gameId The game.
    /// @param mover  Who posted it.
    /// @param start  First step of the bisected segment.
    /// @param len    Its length.
    /// @param hashes The machine hashes at start + len * j / k, j = 0..k, k = min(degree, len).
    event Bisected(uint256 indexed gameId, address indexed mover, uint64 start, uint64 len, bytes32[] hashes);

    /// @notice A party proved the one step of part `i` of the latest bisection, against the
    ///         opponent's hash after it.
    /// @param gameId    The game.
    /// @param mover     Who proved it.
    /// @param i         The part.
    /// @param step      The step proven (from step to step + 1).
    /// @param afterHash The machine hash after the step, as OneStepProofEntry computed it.
    event OneStepProven(uint256 indexed gameId, address indexed mover, uint256 i, uint64 step, bytes32 afterHash);

    /// @notice A game ended.
    /// @param gameId The game.
    /// @param winner Who won (zero when the game was closed because its assertion was already gone).
    /// @param reason How it ended.
    event GameResolved(uint256 indexed gameId, address winner, Reason reason);

    /// @notice The module constants do not hash to the rollup's moduleRoot.
    error ModuleRootMismatch(bytes32 computed, bytes32 expected);
    /// @notice The degree is outside [2, MAX_DEGREE].
    error InvalidDegree(uint256 degree);
    /// @notice A clock of zero seconds would make every game a timeout.
    error ZeroClock();
    /// @notice A zero address where one is required.
    error ZeroAddress();
    /// @notice msg.value differs from challengeBond.
    error WrongChallengeBond(uint256 expected, uint256 got);
    /// @notice Only pending assertions can be challenged.
    error AssertionNotPending(uint256 assertionId);
    /// @notice The assertion's parent was rejected: it falls through Rollup.rejectDescendant.
    error ParentRejected(uint256 parentId);
    /// @notice The assertion's challenge deadline has passed.
    error ChallengeTooLate(uint256 deadline);
    /// @notice No game with this id.
    error UnknownGame(uint256 gameId);
    /// @notice The game is already resolved.
    error GameNotActive(uint256 gameId);
    /// @notice Only the party whose turn it is may move.
    error NotYourTurn(address mover);
    /// @notice The mover's clock ran out at `ranOutAt`: only timeout() is left.
    error ClockExpired(uint256 ranOutAt);
    /// @notice The mover still has time until `runsOutAt`.
    error ClockNotExpired(uint256 runsOutAt);
    /// @notice The supplied bisection is not the one the game committed to.
    error CommitmentMismatch(bytes32 expected, bytes32 got);
    /// @notice A bisection must have min(degree, len) + 1 hashes.
    error WrongHashCount(uint256 expected, uint256 got);
    /// @notice The chosen part does not exist.
    error PartOutOfRange(uint256 i, uint256 parts);
    /// @notice bisect needs a part longer than one step, oneStepProve a part of exactly one.
    error WrongSegmentLength(uint256 i, uint64 len);
    /// @notice A bisection must start from the hash both parties agree on.
    error StartHashMismatch(bytes32 expected, bytes32 got);
    /// @notice A move must disagree with the opponent's hash at the end of the part.
    error EndHashMatches(bytes32 hash);
    /// @notice The proven step yields the opponent's hash: the opponent was right.
    error ProofMatchesClaim(bytes32 afterHash);
    /// @notice close() on a game whose assertion and parent still stand.
    error AssertionStillStands(uint256 assertionId);

    /// @param rollup_        The rollup whose assertions are disputed; wire this game in with
    ///                       rollup.setDisputeGame.
    /// @param osp_           The one-step proof entry.
    /// @param module         The module constants; must hash to rollup_.moduleRoot().
    /// @param degree_        Parts per bisection, 2 to MAX_DEGREE.
    /// @param clockSeconds_  Each party's total thinking time per game.
    /// @param challengeBond_ Wei a challenger locks per game.
    constructor(
        Rollup rollup_,
        OneStepProofEntry osp_,
        ModuleConstants memory module,
        uint256 degree_,
        uint64 clockSeconds_,
        uint256 challengeBond_
    ) {
        if (address(rollup_) == address(0) || address(osp_) == address(0)) revert ZeroAddress();
        if (degree_ < 2 || degree_ > MAX_DEGREE) revert InvalidDegree(degree_);
        if (clockSeconds_ == 0) revert ZeroClock();
        // The constants a one-step proof is checked against are bound by the state roots' moduleRoot;
        // a game built with other constants could only ever fail its proofs.
        bytes32 computed = keccak256(
            abi.encodePacked(
                module.codeRoot, module.tableRoot, module.tableSize, module.entryFunction, module.outboxRootPtr, module.maxMemoryPages
            )
        );
        bytes32 expected = rollup_.moduleRoot();
        if (computed != expected) revert ModuleRootMismatch(computed, expected);
        rollup = rollup_;
        osp = osp_;
        degree = degree_;
        clockSeconds = clockSeconds_;
        challengeBond = challengeBond_;
        _codeRoot = module.codeRoot;
        _tableRoot = module.tableRoot;
        _tableSize = module.tableSize;
        _entryFunction = module.entryFunction;
        _outboxRootPtr = module.outboxRootPtr;
        _maxMemoryPages = module.maxMemoryPages;
    }

    // ---------------------------------------------------------------------------------------------
    // Moves

    /// @notice Opens a game over a pending assertion with the challenger's bisection of its whole
    ///         step range [0, steps], and locks challengeBond. The asserter moves next.
    /// @param assertionId A pending assertion before its challenge deadline, whose parent stands.
    /// @param hashes      The challenger's machine hashes at the bisection points of [0, steps]:
    ///                    hashes[0] is the parent's state root, the last differs from the
    ///                    assertion's state root.
    /// @return gameId The new game.
    function challenge(uint256 assertionId, bytes32[] calldata hashes) external payable returns (uint256 gameId) {
        if (msg.value != challengeBond) revert WrongChallengeBond(challengeBond, msg.value);
        Rollup.Assertion memory a = rollup.getAssertion(assertionId);
        if (a.status != Rollup.AssertionStatus.Pending) revert AssertionNotPending(assertionId);
        uint256 deadline = uint256(a.createdAt) + rollup.challengePeriod();
        if (block.timestamp >= deadline) revert ChallengeTooLate(deadline);
        Rollup.Assertion memory parent = rollup.getAssertion(a.parentId);
        if (parent.status == Rollup.AssertionStatus.Rejected) revert ParentRejected(a.parentId);

        _checkBisection(a.steps, hashes, parent.stateRoot, a.stateRoot);
        bytes32 commitment = _commit(0, a.steps, hashes);

        gameId = _games.length;
        _games.push(
            Game({
                assertionId: assertionId,
                commitment: commitment,
                challenger: msg.sender,
                lastMoveAt: uint64(block.timestamp),
                asserter: a.proposer,
                challengerTimeLeft: clockSeconds,
                start: 0,
                len: a.steps,
                asserterTimeLeft: clockSeconds,
                asserterToMove: true,
                status: GameStatus.Active
            })
        );
        rollup.disputeOpened(assertionId);
        emit GameCreated(gameId, assertionId, msg.sender, a.proposer, a.steps, parent.stateRoot, a.stateRoot, a.inboxPosition);
        emit Bisected(gameId, msg.sender, 0, a.steps, hashes);
    }

    /// @notice Narrows the game to part `i` of the opponent's latest bisection: the mover agrees
    ///         with its first hash and disagrees with its last, and posts its own bisection of it.
    /// @param gameId    An active game; only the party whose turn it is.
    /// @param oldHashes The opponent's latest bisection (from its Bisected event).
    /// @param i         The part, between points i and i + 1; longer than one step.
    /// @param newHashes The mover's hashes at the bisection points of that part: newHashes[0] ==
    ///                  oldHashes[i], the last differs from oldHashes[i + 1].
    function bisect(uint256 gameId, bytes32[] calldata oldHashes, uint256 i, bytes32[] calldata newHashes) external {
        Game storage g = _active(gameId);
        _chargeClock(g);
        (uint64 partStart, uint64 partLen) = _part(g, oldHashes, i);
        if (partLen <= 1) revert WrongSegmentLength(i, partLen);
        _checkBisection(partLen, newHashes, oldHashes[i], oldHashes[i + 1]);

        g.commitment = _commit(partStart, partLen, newHashes);
        g.start = partStart;
        g.len = partLen;
        g.asserterToMove = !g.asserterToMove;
        emit Bisected(gameId, msg.sender, partStart, partLen, newHashes);
    }

    /// @notice Ends the game by executing the one step of part `i` of the opponent's latest
    ///         bisection on L1: if it does not lead to the opponent's hash, the mover wins.
    /// @param gameId    An active game; only the party whose turn it is.
    /// @param oldHashes The opponent's latest bisection.
    /// @param i         The part, exactly one step long.
    /// @param proof     executor/vm/proof.ts proveStep of the machine whose hash is oldHashes[i].
    function oneStepProve(uint256 gameId, bytes32[] calldata oldHashes, uint256 i, bytes calldata proof) external {
        Game storage g = _active(gameId);
        _chargeClock(g);
        (uint64 partStart, uint64 partLen) = _part(g, oldHashes, i);
        if (partLen != 1) revert WrongSegmentLength(i, partLen);

        Rollup.Assertion memory a = rollup.getAssertion(g.assertionId);
        ExecutionContext memory ctx = ExecutionContext({
            batchLimit: a.inboxPosition,
            entryFunction: _entryFunction,
            outboxRootPtr: _outboxRootPtr,
            maxMemoryPages: _maxMemoryPages,
            codeRoot: _codeRoot,
            tableRoot: _tableRoot,
            tableSize: _tableSize,
            sequencerInbox: address(rollup.inbox())
        });
        bytes32 afterHash = osp.proveOneStep(ctx, oldHashes[i], proof);
        if (afterHash == oldHashes[i + 1]) revert ProofMatchesClaim(afterHash);

        emit OneStepProven(gameId, msg.sender, i, partStart, afterHash);
        // the mover wins
        _resolve(gameId, g, !g.asserterToMove, Reason.OneStepProof);
    }

    /// @notice Ends a game whose mover's clock has run out: the other party wins. Anyone may call it.
    /// @param gameId An active game.
    function timeout(uint256 gameId) external {
        Game storage g = _active(gameId);
        uint256 runsOutAt = uint256(g.lastMoveAt) + (g.asserterToMove ? g.asserterTimeLeft : g.challengerTimeLeft);
        if (block.timestamp < runsOutAt) revert ClockNotExpired(runsOutAt);
        // the mover loses
        _resolve(gameId, g, g.asserterToMove, Reason.Timeout);
    }

    /// @notice Ends a game whose assertion was already rejected (by another game) or whose parent
    ///         was: there is nothing left to decide, and the challenger gets its bond back. Anyone
    ///         may call it.
    /// @param gameId An active game.
    function close(uint256 gameId) external {
        Game storage g = _active(gameId);
        if (!_assertionGone(g.assertionId)) revert AssertionStillStands(g.assertionId);
        _resolve(gameId, g, false, Reason.AssertionGone);
    }

    // ---------------------------------------------------------------------------------------------
    // Views

    /// @notice Everything stored about a game.
    /// @param gameId A game id below gameCount().
    function game(uint256 gameId) external view returns (Game memory) {
        return _get(gameId);
    }

    /// @notice Number of games ever opened.
    function gameCount() external view returns (uint256) {
        return _games.length;
    }

    /// @notice The party whose turn it is.
    /// @param gameId A game id below gameCount().
    function mover(uint256 gameId) external view returns (address) {
        Game storage g = _get(gameId);
        return g.asserterToMove ? g.asserter : g.challenger;
    }

    /// @notice Seconds left on each clock now, the mover's clock running.
    /// @param gameId A game id below gameCount().
    /// @return challenger Seconds the challenger has left.
    /// @return asserter   Seconds the asserter has left.
    function timeLeft(uint256 gameId) external view returns (uint64 challenger, uint64 asserter) {
        Game storage g = _get(gameId);
        challenger = g.challengerTimeLeft;
        asserter = g.asserterTimeLeft;
        if (g.status != GameStatus.Active) return (challenger, asserter);
        uint256 elapsed = block.timestamp - g.lastMoveAt;
        if (g.asserterToMove) asserter = elapsed >= asserter ? 0 : asserter - uint64(elapsed);
        else challenger = elapsed >= challenger ? 0 : challenger - uint64(elapsed);
    }

    /// @notice The bisection points of [start, start + len]: start + len * j / k, j = 0..k,
    ///         k = min(degree, len).
    /// @param start First step.
    /// @param len   Steps, at least one.
    function bisectionPoints(uint64 start, uint64 len) external view returns (uint64[] memory points) {
        uint256 k = _parts(len);
        points = new uint64[](k + 1);
        points[0] = start;
        if (k == 0) return points;
        for (uint256 j = 0; j <= k; ++j) points[j] = start + uint64((uint256(len) * j) / k);
    }

    // ---------------------------------------------------------------------------------------------
    // Internals

    function _get(uint256 gameId) private view returns (Game storage) {
        if (gameId >= _games.length) revert UnknownGame(gameId);
        return _games[gameId];
    }

    /// @dev The game, if active and the caller is its mover.
    function _active(uint256 gameId) private view returns (Game storage g) {
        g = _get(gameId);
        if (g.status != GameStatus.Active) revert GameNotActive(gameId);
    }

    /// @dev Checks the turn and subtracts the time since the last move from the mover's clock; a
    ///      clock that has run out cannot move any more, so timeout() cannot be raced.
    function _chargeClock(Game storage g) private {
        address who = g.asserterToMove ? g.asserter : g.challenger;
        if (msg.sender != who) revert NotYourTurn(who);
        uint64 left = g.asserterToMove ? g.asserterTimeLeft : g.challengerTimeLeft;
        uint256 elapsed = block.timestamp - g.lastMoveAt;
        if (elapsed >= left) revert ClockExpired(uint256(g.lastMoveAt) + left);
        left -= uint64(elapsed);
        if (g.asserterToMove) g.asserterTimeLeft = left;
        else g.challengerTimeLeft = left;
        g.lastMoveAt = uint64(block.timestamp);
    }

    /// @dev Verifies `oldHashes` against the commitment; returns part i's start and length.
    function _part(Game storage g, bytes32[] calldata oldHashes, uint256 i) private view returns (uint64, uint64) {
        uint64 start = g.start;
        uint64 len = g.len;
        bytes32 got = _commit(start, len, oldHashes);
        if (got != g.commitment) revert CommitmentMismatch(g.commitment, got);
        uint256 k = oldHashes.length - 1; // the commitment fixed it at min(degree, len) + 1
        if (i >= k) revert PartOutOfRange(i, k);
        uint256 from = (uint256(len) * i) / k;
        uint256 to = (uint256(len) * (i + 1)) / k;
        return (start + uint64(from), uint64(to - from));
    }

    /// @dev A bisection of a `len`-step segment from `startHash` that disputes `endHash`.
    function _checkBisection(uint64 len, bytes32[] calldata hashes, bytes32 startHash, bytes32 endHash) private view {
        uint256 expected = _parts(len) + 1;
        if (hashes.length != expected) revert WrongHashCount(expected, hashes.length);
        if (hashes[0] != startHash) revert StartHashMismatch(startHash, hashes[0]);
        if (hashes[expected - 1] == endHash) revert EndHashMatches(endHash);
    }

    function _parts(uint64 len) private view returns (uint256) {
        return len < degree ? len : degree;
    }

    function _commit(uint64 start, uint64 len, bytes32[] calldata hashes) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(start, len, hashes));
    }

    function _assertionGone(uint256 assertionId) private view returns (bool) {
        Rollup.Assertion memory a = rollup.getAssertion(assertionId);
        if (a.status == Rollup.AssertionStatus.Rejected) return true;
        return rollup.getAssertion(a.parentId).status == Rollup.AssertionStatus.Rejected;
    }

    /// @dev Settles a game. A game whose assertion is already gone (rejected by another game, or
    ///      its parent rejected) is closed whoever would have won it: the challenger gets its bond
    ///      back, as the assertion it attacked was indeed false, and nobody is paid twice.
    function _resolve(uint256 gameId, Game storage g, bool challengerWins, Reason reason) private {
        uint256 assertionId = g.assertionId;
        address challenger = g.challenger;
        address winner;
        if (reason == Reason.AssertionGone || _assertionGone(assertionId)) {
            g.status = GameStatus.Closed;
            reason = Reason.AssertionGone;
            rollup.disputeClosed(assertionId);
            _payBond(challenger, challengeBond);
        } else if (challengerWins) {
            g.status = GameStatus.ChallengerWon;
            winner = challenger;
            rollup.disputeClosed(assertionId);
            rollup.rejectAssertion(assertionId, challenger);
            _payBond(challenger, challengeBond);
        } else {
            g.status = GameStatus.AsserterWon;
            winner = g.asserter;
            rollup.disputeClosed(assertionId);
            _payBond(winner, challengeBond);
        }
        emit GameResolved(gameId, winner, reason);
    }
}

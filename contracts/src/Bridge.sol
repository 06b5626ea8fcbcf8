// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SequencerInbox} from "./SequencerInbox.sol";
import {Rollup} from "./Rollup.sol";
import {BinaryMerkle} from "./libraries/BinaryMerkle.sol";

/// @title Bridge
/// @notice Escrow for collateral and ETH moving between L1 and Veridex. A deposit takes custody
///         and enqueues a DEPOSIT delayed message; a withdrawal is paid once, against the outbox
///         root of a confirmed assertion (docs/protocol.md §5, §7).
/// @dev The collateral must be a plain ERC-20 (no fee on transfer, no rebasing): the L2 credits
///      exactly the amount named in the deposit message.
contract Bridge {
    using SafeERC20 for IERC20;

    /// @notice Asset id of the collateral token.
    uint32 public constant ASSET_COLLATERAL = 0;

    /// @notice Asset id of ETH.
    uint32 public constant ASSET_ETH = 1;

    /// @notice Wei per ETH quantum (1 gwei): the L2 counts ETH in u64 gwei.
    uint256 public constant ETH_QUANTUM_WEI = 1e9;

    /// @notice Depth of the outbox tree.
    uint256 public constant OUTBOX_DEPTH = 32;

    /// @notice The inbox deposits are enqueued in.
    SequencerInbox public immutable inbox;

    /// @notice The rollup whose confirmed outbox roots authorize withdrawals.
    Rollup public immutable rollup;

    /// @notice The collateral token (asset 0).
    IERC20 public immutable collateral;

    /// @dev Bitmap of finalized withdrawal indices, 256 per word.
    mapping(uint256 word => uint256 bits) private _spent;

    /// @notice Funds were escrowed and a deposit message enqueued.
    /// @param index  The delayed message index.
    /// @param from   The L1 depositor.
    /// @param to     The L2 account credited.
    /// @param asset  ASSET_COLLATERAL or ASSET_ETH.
    /// @param amount Quantums credited on L2.
    event DepositInitiated(uint256 indexed index, address indexed from, address indexed to, uint32 asset, uint64 amount);

    /// @notice A withdrawal was paid out.
    /// @param index  The outbox leaf index (the withdrawal id).
    /// @param to     The L1 recipient.
    /// @param asset  ASSET_COLLATERAL or ASSET_ETH.
    /// @param amount Quantums paid.
    event WithdrawalFinalized(uint64 indexed index, address indexed to, uint32 asset, uint64 amount);

    /// @notice A deposit of zero.
    error ZeroAmount();
    /// @notice A deposit to the zero address, which no one could ever spend on L2.
    error ZeroRecipient();
    /// @notice A deposit larger than a u64 quantum count.
    error AmountTooLarge(uint256 quantums);
    /// @notice ETH deposits must be whole gwei, the L2's ETH quantum.
    error EthNotGweiMultiple(uint256 value);
    /// @notice The withdrawal proof must have one sibling per tree level.
    error InvalidProofLength(uint256 length);
    /// @notice The index does not fit the depth-32 outbox tree.
    error WithdrawalIndexOutOfRange(uint64 index);
    /// @notice The proof does not lead to the assertion's outbox root.
    error InvalidWithdrawalProof();
    /// @notice This withdrawal was already paid.
    error WithdrawalAlreadyFinalized(uint64 index);
    /// @notice The leaf names an asset the bridge does not hold.
    error UnknownAsset(uint32 asset);
    /// @notice The ETH payment to the recipient failed.
    error EthTransferFailed(address to);
    /// @notice A zero address where a contract is required.
    error ZeroAddress();

    /// @param inbox_      The SequencerInbox (which must then be initialized with this bridge).
    /// @param rollup_     The Rollup.
    /// @param collateral_ The collateral ERC-20.
    constructor(address inbox_, address rollup_, address collateral_) {
        if (inbox_ == address(0) || rollup_ == address(0) || collateral_ == address(0)) revert ZeroAddress();
        inbox = SequencerInbox(inbox_);
        rollup = Rollup(rollup_);
        collateral = IERC20(collateral_);
    }

    // ---------------------------------------------------------------------------------------------
    // Deposits

    /// @notice Escrows `amount` collateral (after approve) and credits it to `to` on L2.
    /// @param to     The L2 account to credit.
    /// @param amount Token base units (= collateral quantums); 1..2^64-1.
    /// @return index The delayed message index.
    function depositERC20(address to, uint256 amount) external returns (uint256 index) {
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint64).max) revert AmountTooLarge(amount);
        collateral.safeTransferFrom(msg.sender, address(this), amount);
        index = _deposit(to, ASSET_COLLATERAL, uint64(amount));
    }

    /// @notice Escrows msg.value and credits it to `to` on L2, in gwei.
    /// @param to The L2 account to credit.
    /// @return index The delayed message index.
    function depositETH(address to) external payable returns (uint256 index) {
        if (msg.value == 0) revert ZeroAmount();
        // Rounding would strand the remainder in escrow; refuse instead.
        if (msg.value % ETH_QUANTUM_WEI != 0) revert EthNotGweiMultiple(msg.value);
        uint256 quantums = msg.value / ETH_QUANTUM_WEI;
        if (quantums > type(uint64).max) revert AmountTooLarge(quantums);
        index = _deposit(to, ASSET_ETH, uint64(quantums));
    }

    function _deposit(address to, uint32 asset, uint64 amount) private returns (uint256 index) {
        if (to == address(0)) revert ZeroRecipient();
        index = inbox.deliverFromBridge(msg.sender, abi.encodePacked(to, asset, amount));
        emit DepositInitiated(index, msg.sender, to, asset, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Withdrawals

    /// @notice Pays withdrawal `index` to `to`, proven against the outbox root of a confirmed
    ///         assertion. Anyone may call it; the funds always go to `to`. Each index pays once.
    /// @param assertionId Any confirmed assertion at or after the batch that made the withdrawal.
    /// @param index       The outbox leaf index; below 2^32.
    /// @param l2Sender    The L2 account that withdrew.
    /// @param to          The L1 recipient.
    /// @param asset       ASSET_COLLATERAL or ASSET_ETH.
    /// @param amount      Quantums (collateral base units, or gwei).
    /// @param proof       The 32 siblings from the leaf up (docs/protocol.md §7).
    function finalizeWithdrawal(
        uint256 assertionId,
        uint64 index,
        address l2Sender,
        address to,
        uint32 asset,
        uint64 amount,
        bytes32[] calldata proof
    ) external {
        bytes32 root = rollup.confirmedOutboxRoot(assertionId);
        if (proof.length != OUTBOX_DEPTH) revert InvalidProofLength(proof.length);
        // computeRoot ignores index bits above the depth; without this bound index + 2^32 would
        // replay index's proof under a fresh spent bit.
        if (index >> OUTBOX_DEPTH != 0) revert WithdrawalIndexOutOfRange(index);
        bytes32 leaf = keccak256(abi.encodePacked(l2Sender, to, asset, amount));
        if (BinaryMerkle.computeRoot(leaf, index, proof) != root) revert InvalidWithdrawalProof();

        uint256 word = index >> 8;
        uint256 bit = uint256(1) << (index & 0xff);
        uint256 bits = _spent[word];
        if (bits & bit != 0) revert WithdrawalAlreadyFinalized(index);
        _spent[word] = bits | bit;
        emit WithdrawalFinalized(index, to, asset, amount);

        if (asset == ASSET_COLLATERAL) {
            collateral.safeTransfer(to, amount);
        } else if (asset == ASSET_ETH) {
            (bool ok,) = to.call{value: uint256(amount) * ETH_QUANTUM_WEI}("");
            // Reverting keeps the withdrawal unspent, so the recipient can fix its fallback and retry.
            if (!ok) revert EthTransferFailed(to);
        } else {
            revert UnknownAsset(asset);
        }
    }

    /// @notice Whether withdrawal `index` has been paid.
    /// @param index The outbox leaf index.
    function isSpent(uint64 index) external view returns (bool) {
        return _spent[index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }
}

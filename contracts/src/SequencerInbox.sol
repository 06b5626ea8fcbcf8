// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title SequencerInbox
/// @notice The L1 record of everything the L2 executes: the sequencer's batches and the delayed
///         inbox of L1-originated messages (deposits and L2 transactions sent from L1). Both are
///         committed to by hash accumulators (docs/protocol.md §6) so that a one-step proof can
///         later show that any byte the engine read really was posted here.
/// @dev Batch data lives only in calldata, never in storage or events: readers re-derive it from
///      the `addSequencerBatch` transaction that emitted `BatchDelivered`. This only works if the
///      sequencer calls this contract directly from an EOA (not through a wallet contract), which
///      is how every Veridex sequencer posts. Forced batches carry no data, so they need no
///      calldata.
contract SequencerInbox {
    /// @notice Delayed message kind of a bridge deposit (docs/protocol.md §5).
    uint8 public constant KIND_DEPOSIT = 1;

    /// @notice Delayed message kind of an L2 transaction sent from L1 (docs/protocol.md §5).
    uint8 public constant KIND_L2_TX = 2;

    /// @notice Largest batch, in bytes of data (header excluded). Keeps a batch's calldata well
    ///         inside one L1 block and bounds what a one-step proof may have to reveal.
    uint256 public constant MAX_BATCH_BYTES = 120_000;

    /// @notice Largest delayed message payload (docs/protocol.md §5).
    uint256 public constant MAX_DELAYED_PAYLOAD = 256;

    /// @notice One posted batch.
    /// @custom:field acc               batchAcc after this batch.
    /// @custom:field afterDelayedCount Delayed messages consumed once this batch is executed.
    /// @custom:field timestamp         The batch's clock, in unix seconds.
    struct Batch {
        bytes32 acc;
        uint64 afterDelayedCount;
        uint64 timestamp;
    }

    /// @notice One delayed message, as far as L1 needs to remember it.
    /// @custom:field acc       delayedAcc after this message.
    /// @custom:field timestamp When it was enqueued; starts the force-inclusion clock.
    struct DelayedEntry {
        bytes32 acc;
        uint64 timestamp;
    }

    /// @notice The only address allowed to post batches.
    address public immutable sequencer;

    /// @notice Seconds a delayed message must wait before anyone may force it into the inbox.
    uint64 public immutable forceInclusionDelay;

    /// @notice How far a batch timestamp may be from the L1 block time, either way.
    uint64 public immutable maxTimeVariation;

    /// @notice The account that may call `initialize` once.
    address public immutable deployer;

    /// @notice The Bridge, the only sender of deposit messages. Zero until `initialize`.
    address public bridge;

    Batch[] private _batches;
    DelayedEntry[] private _delayed;

    /// @notice A batch was appended to the inbox.
    /// @param batchIndex        Position of the batch (the sequence number it was posted with).
    /// @param beforeAcc         batchAcc before it.
    /// @param afterAcc          batchAcc after it.
    /// @param afterDelayedCount Delayed messages consumed once it is executed.
    /// @param timestamp         The batch's clock.
    /// @param forced            True if it came from `forceInclusion` (and so has empty data).
    event BatchDelivered(
        uint256 indexed batchIndex, bytes32 beforeAcc, bytes32 afterAcc, uint64 afterDelayedCount, uint64 timestamp, bool forced
    );

    /// @notice A message was appended to the delayed inbox.
    /// @param index     Position of the message.
    /// @param beforeAcc delayedAcc before it.
    /// @param kind      KIND_DEPOSIT or KIND_L2_TX.
    /// @param sender    The L1 account the L2 attributes the message to.
    /// @param timestamp The L1 block time it was enqueued at.
    /// @param payload   The kind-specific payload.
    event DelayedMessage(
        uint256 indexed index, bytes32 beforeAcc, uint8 kind, address indexed sender, uint64 timestamp, bytes payload
    );

    /// @notice The bridge was wired in.
    /// @param bridge The Bridge contract.
    event Initialized(address bridge);

    /// @notice Caller is not the sequencer.
    error NotSequencer();
    /// @notice Caller is not the Bridge.
    error NotBridge();
    /// @notice Caller is not the deployer.
    error NotDeployer();
    /// @notice `initialize` was already called.
    error AlreadyInitialized();
    /// @notice A zero address where a contract is required.
    error ZeroAddress();
    /// @notice The batch is not the next one; a retried post of an included batch lands here.
    error BadSequenceNumber(uint256 expected, uint256 got);
    /// @notice The batch would un-read delayed messages already consumed.
    error AfterDelayedCountTooLow(uint64 min, uint64 got);
    /// @notice The batch would read delayed messages that do not exist yet.
    error AfterDelayedCountTooHigh(uint64 max, uint64 got);
    /// @notice The batch timestamp is earlier than the previous batch's.
    error TimestampBeforePrevious(uint64 previous, uint64 got);
    /// @notice The batch timestamp lags the L1 clock by more than maxTimeVariation.
    error TimestampTooOld(uint256 min, uint64 got);
    /// @notice The batch timestamp leads the L1 clock by more than maxTimeVariation.
    error TimestampTooFarInFuture(uint256 max, uint64 got);
    /// @notice The batch data exceeds MAX_BATCH_BYTES.
    error BatchTooLarge(uint256 length, uint256 max);
    /// @notice A delayed message with an empty payload.
    error EmptyPayload();
    /// @notice A delayed message payload over MAX_DELAYED_PAYLOAD.
    error PayloadTooLarge(uint256 length, uint256 max);
    /// @notice forceInclusion must include at least one not-yet-read message.
    error NothingToForce(uint64 totalDelayedRead, uint64 got);
    /// @notice The last message to force has not waited forceInclusionDelay yet.
    error ForceInclusionTooSoon(uint256 readyAt);

    /// @param sequencer_           The sequencer's EOA.
    /// @param forceInclusionDelay_ Seconds before a delayed message may be forced in.
    /// @param maxTimeVariation_    Allowed distance between a batch timestamp and block.timestamp.
    constructor(address sequencer_, uint64 forceInclusionDelay_, uint64 maxTimeVariation_) {
        if (sequencer_ == address(0)) revert ZeroAddress();
        sequencer = sequencer_;
        forceInclusionDelay = forceInclusionDelay_;
        maxTimeVariation = maxTimeVariation_;
        deployer = msg.sender;
    }

    /// @notice Wires in the Bridge. Separate from the constructor because Bridge and inbox each
    ///         need the other's address.
    /// @param bridge_ The Bridge contract.
    function initialize(address bridge_) external {
        if (msg.sender != deployer) revert NotDeployer();
        if (bridge != address(0)) revert AlreadyInitialized();
        if (bridge_ == address(0)) revert ZeroAddress();
        bridge = bridge_;
        emit Initialized(bridge_);
    }

    // ---------------------------------------------------------------------------------------------
    // Batches

    /// @notice Appends a sequencer batch. Its data is committed by the accumulator and recovered
    ///         by readers from this transaction's calldata.
    /// @dev Requiring `sequenceNumber == batchCount()` makes posting idempotent: a retry of a batch
    ///      that already landed reverts instead of appending it twice.
    /// @param sequenceNumber    Must equal batchCount().
    /// @param data              format ‖ items (docs/protocol.md §4); may be empty.
    /// @param afterDelayedCount Delayed messages consumed once this batch is executed; between
    ///                          totalDelayedRead() and delayedCount().
    /// @param timestamp         The batch's clock: not before the previous batch, and within
    ///                          maxTimeVariation of block.timestamp.
    function addSequencerBatch(uint256 sequenceNumber, bytes calldata data, uint64 afterDelayedCount, uint64 timestamp)
        external
    {
        if (msg.sender != sequencer) revert NotSequencer();
        uint256 count = _batches.length;
        if (sequenceNumber != count) revert BadSequenceNumber(count, sequenceNumber);
        if (data.length > MAX_BATCH_BYTES) revert BatchTooLarge(data.length, MAX_BATCH_BYTES);

        uint64 minDelayed = totalDelayedRead();
        if (afterDelayedCount < minDelayed) revert AfterDelayedCountTooLow(minDelayed, afterDelayedCount);
        uint64 maxDelayed = uint64(_delayed.length);
        if (afterDelayedCount > maxDelayed) revert AfterDelayedCountTooHigh(maxDelayed, afterDelayedCount);

        uint64 previous = lastBatchTimestamp();
        if (timestamp < previous) revert TimestampBeforePrevious(previous, timestamp);
        // uint256 arithmetic: neither bound may overflow whatever the caller passes.
        if (uint256(timestamp) + maxTimeVariation < block.timestamp) {
            revert TimestampTooOld(block.timestamp - maxTimeVariation, timestamp);
        }
        if (timestamp > block.timestamp + maxTimeVariation) {
            revert TimestampTooFarInFuture(block.timestamp + maxTimeVariation, timestamp);
        }

        _appendBatch(keccak256(abi.encodePacked(afterDelayedCount, timestamp, data)), afterDelayedCount, timestamp, false);
    }

    /// @notice Forces delayed messages the sequencer has ignored into the inbox, as a batch with
    ///         empty data, once the newest of them has waited forceInclusionDelay.
    /// @dev The sequencer's next post must then use the new batchCount() and at least the new
    ///      totalDelayedRead(), or it reverts; this is what makes censorship impossible.
    /// @param newDelayedCount Delayed messages consumed after the forced batch.
    function forceInclusion(uint64 newDelayedCount) external {
        uint64 read = totalDelayedRead();
        if (newDelayedCount <= read) revert NothingToForce(read, newDelayedCount);
        uint64 maxDelayed = uint64(_delayed.length);
        if (newDelayedCount > maxDelayed) revert AfterDelayedCountTooHigh(maxDelayed, newDelayedCount);

        // Messages are enqueued in time order, so the last one forced is the youngest.
        uint256 readyAt = uint256(_delayed[newDelayedCount - 1].timestamp) + forceInclusionDelay;
        if (block.timestamp < readyAt) revert ForceInclusionTooSoon(readyAt);

        // The previous batch may be dated up to maxTimeVariation ahead; batch clocks never go back.
        uint64 timestamp = uint64(block.timestamp);
        uint64 previous = lastBatchTimestamp();
        if (previous > timestamp) timestamp = previous;

        _appendBatch(keccak256(abi.encodePacked(newDelayedCount, timestamp)), newDelayedCount, timestamp, true);
    }

    /// @param messageHash keccak256(header ‖ data).
    function _appendBatch(bytes32 messageHash, uint64 afterDelayedCount, uint64 timestamp, bool forced) private {
        uint256 index = _batches.length;
        bytes32 beforeAcc = index == 0 ? bytes32(0) : _batches[index - 1].acc;
        bytes32 delayedAcc = afterDelayedCount == 0 ? bytes32(0) : _delayed[afterDelayedCount - 1].acc;
        bytes32 afterAcc = keccak256(abi.encodePacked(beforeAcc, messageHash, delayedAcc));
        _batches.push(Batch({acc: afterAcc, afterDelayedCount: afterDelayedCount, timestamp: timestamp}));
        emit BatchDelivered(index, beforeAcc, afterAcc, afterDelayedCount, timestamp, forced);
    }

    // ---------------------------------------------------------------------------------------------
    // Delayed inbox

    /// @notice Sends an L2 transaction from L1, authenticated by msg.sender instead of a signature.
    ///         The sequencer should include it; if it does not, anyone can force it in after
    ///         forceInclusionDelay.
    /// @param payload A batch item without its signature (docs/protocol.md §5); 1..256 bytes.
    /// @return index The delayed message index.
    function sendL2Message(bytes calldata payload) external returns (uint256 index) {
        return _enqueue(KIND_L2_TX, msg.sender, payload);
    }

    /// @notice Enqueues a deposit. Only the Bridge, after it has taken custody of the funds, so a
    ///         DEPOSIT message is always backed by escrow.
    /// @param sender  The L1 depositor.
    /// @param payload to ‖ asset u32 ‖ amount u64.
    /// @return index The delayed message index.
    function deliverFromBridge(address sender, bytes calldata payload) external returns (uint256 index) {
        if (msg.sender != bridge) revert NotBridge();
        return _enqueue(KIND_DEPOSIT, sender, payload);
    }

    function _enqueue(uint8 kind, address sender, bytes calldata payload) private returns (uint256 index) {
        if (payload.length == 0) revert EmptyPayload();
        if (payload.length > MAX_DELAYED_PAYLOAD) revert PayloadTooLarge(payload.length, MAX_DELAYED_PAYLOAD);
        index = _delayed.length;
        bytes32 beforeAcc = index == 0 ? bytes32(0) : _delayed[index - 1].acc;
        uint64 timestamp = uint64(block.timestamp);
        bytes32 messageHash = keccak256(abi.encodePacked(kind, sender, timestamp, payload));
        _delayed.push(DelayedEntry({acc: keccak256(abi.encodePacked(beforeAcc, messageHash)), timestamp: timestamp}));
        emit DelayedMessage(index, beforeAcc, kind, sender, timestamp, payload);
    }

    // ---------------------------------------------------------------------------------------------
    // Views

    /// @notice Number of batches posted so far, forced ones included.
    function batchCount() external view returns (uint256) {
        return _batches.length;
    }

    /// @notice Number of delayed messages enqueued so far.
    function delayedCount() external view returns (uint256) {
        return _delayed.length;
    }

    /// @notice Delayed messages consumed by the batches posted so far.
    function totalDelayedRead() public view returns (uint64) {
        uint256 count = _batches.length;
        return count == 0 ? 0 : _batches[count - 1].afterDelayedCount;
    }

    /// @notice Timestamp of the newest batch, or 0 before the first.
    function lastBatchTimestamp() public view returns (uint64) {
        uint256 count = _batches.length;
        return count == 0 ? 0 : _batches[count - 1].timestamp;
    }

    /// @notice batchAcc after batch `index`.
    /// @param index A batch index below batchCount().
    function batchAccs(uint256 index) external view returns (bytes32) {
        return _batches[index].acc;
    }

    /// @notice Everything L1 stores about batch `index`.
    /// @param index A batch index below batchCount().
    /// @return acc               batchAcc after the batch.
    /// @return afterDelayedCount Delayed messages consumed once it is executed.
    /// @return timestamp         The batch's clock.
    function batchInfo(uint256 index) external view returns (bytes32 acc, uint64 afterDelayedCount, uint64 timestamp) {
        Batch storage b = _batches[index];
        return (b.acc, b.afterDelayedCount, b.timestamp);
    }

    /// @notice delayedAcc after message `index`.
    /// @param index A delayed message index below delayedCount().
    function delayedAccs(uint256 index) external view returns (bytes32) {
        return _delayed[index].acc;
    }

    /// @notice When delayed message `index` was enqueued.
    /// @param index A delayed message index below delayedCount().
    function delayedTimestamp(uint256 index) external view returns (uint64) {
        return _delayed[index].timestamp;
    }
}

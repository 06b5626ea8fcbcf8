// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Machine} from "./state/Machine.sol";
import {Instructions} from "./state/Instructions.sol";

/// @notice What a one-step proof needs besides the machine: the module constants, which must hash
///         to the machine's moduleRoot (Module.sol; docs/vm.md "Module root"), and where the
///         assertion's batches end and live (set by the dispute game from the Rollup).
struct ExecutionContext {
    /// inbox positions below this have a batch: a Ready machine at batchLimit steps to itself
    uint64 batchLimit;
    /// the function entered from Ready (run_batch); 0xffffffff for none
    uint32 entryFunction;
    /// OUTBOX_ROOT_PTR (32-byte aligned)
    uint32 outboxRootPtr;
    /// memory.grow's limit: min(the module's max, 4096)
    uint32 maxMemoryPages;
    /// the code root a Ready machine enters with
    bytes32 codeRoot;
    /// merkleRoot of the function table's leaves (Module.tableLeaf), zero for no table
    bytes32 tableRoot;
    /// entries in the function table
    uint32 tableSize;
    /// the SequencerInbox whose accumulators inbox_read / delayed_read messages are checked against
    address sequencerInbox;
}

/// @title IOneStepProver
/// @notice One class of instructions.
interface IOneStepProver {
    /// @notice Executes `inst` on the revealed machine; pc is already advanced past it.
    /// @param ctx module constants
    /// @param mach the machine before the step (pc already incremented)
    /// @param inst the proven instruction
    /// @param witness the instruction's witness (the proof after the instruction paths)
    /// @return the machine after the step
    function executeOneStep(
        ExecutionContext calldata ctx,
        Machine.State memory mach,
        Instructions.Instruction calldata inst,
        bytes calldata witness
    ) external view returns (Machine.State memory);
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ExecutionContext, IOneStepProver} from "./IOneStepProver.sol";
import {Machine} from "./state/Machine.sol";
import {Instructions} from "./state/Instructions.sol";
import {ValueStack} from "./state/ValueStack.sol";
import {StackFrame} from "./state/StackFrame.sol";
import {Module} from "./state/Module.sol";

/// @title OneStepProofEntry
/// @notice Checks a one-step proof (docs/vm.md "One-step proofs"): recomputes the machine hash
///         before the step from the proof, proves the instruction against the code root, lets the
///         prover of its class execute it, and returns the machine hash after the step.
contract OneStepProofEntry {
    /// @notice Control flow, calls, locals, globals, constants, ENTER.
    IOneStepProver public immutable prover0;
    /// @notice Integer arithmetic, comparisons, conversions.
    IOneStepProver public immutable proverMath;
    /// @notice Loads, stores, memory.size/grow.
    IOneStepProver public immutable proverMemory;
    /// @notice Host functions: keccak256, ecrecover, inbox_read, delayed_read.
    IOneStepProver public immutable proverHostIo;

    /// @notice The proof's machine does not hash to the hash before the step.
    error MachineHashMismatch(bytes32 computed, bytes32 expected);
    /// @notice The machine runs other code than the module's.
    error CodeRootMismatch(bytes32 machine, bytes32 module);
    /// @notice A step no prover supports (a host id outside the engine's list).
    error UnsupportedStep(uint16 op, uint32 b);

    constructor(IOneStepProver prover0_, IOneStepProver proverMath_, IOneStepProver proverMemory_, IOneStepProver proverHostIo_) {
        prover0 = prover0_;
        proverMath = proverMath_;
        proverMemory = proverMemory_;
        proverHostIo = proverHostIo_;
    }

    /// @notice The machine hash after one step from `beforeHash`.
    /// @param ctx the module constants (they must hash to the machine's moduleRoot: Module.check)
    ///        and the assertion's batch limit and inbox
    /// @param beforeHash the machine hash both parties agree on
    /// @param proof executor/vm/proof.ts proveStep's output for that machine
    /// @return afterHash the machine hash after the step (the same hash for a stopped machine)
    function proveOneStep(ExecutionContext calldata ctx, bytes32 beforeHash, bytes calldata proof)
        external
        view
        returns (bytes32 afterHash)
    {
        (Machine.State memory m, uint256 o) = Machine.parse(proof);
        bytes32 computed = Machine.hash(m);
        if (computed != beforeHash) revert MachineHashMismatch(computed, beforeHash);
        if (m.status == Machine.ERRORED || m.status == Machine.FINISHED) return beforeHash;
        if (m.status == Machine.READY) {
            if (m.inboxPosition >= ctx.batchLimit) return beforeHash;
            Module.check(ctx, m.moduleRoot);
            return enterBatch(ctx, m);
        }
        Module.check(ctx, m.moduleRoot);
        // a running machine's code root came from ctx.codeRoot when it entered the batch
        if (m.codeRoot != ctx.codeRoot) revert CodeRootMismatch(m.codeRoot, ctx.codeRoot);
        Instructions.Instruction memory inst;
        (inst, o) = Instructions.parseAndProve(proof, o, m.func, m.offset, m.codeRoot);
        m.offset += 1;
        uint16 op = inst.op;
        IOneStepProver prover;
        if ((op >= 0x45 && op <= 0x8a) || op == 0xa7 || op == 0xac || op == 0xad || (op >= 0xc0 && op <= 0xc4)) {
            prover = proverMath;
        } else if (op >= 0x28 && op <= 0x40) {
            prover = proverMemory;
        } else if (op == Instructions.CALL_HOST && inst.b < 4) {
            prover = proverHostIo;
        } else if (op == Instructions.CALL_HOST && inst.b != 4) {
            revert UnsupportedStep(op, inst.b);
        } else {
            prover = prover0;
        }
        m = prover.executeOneStep(ctx, m, inst, proof[o:]);
        return Machine.hash(m);
    }

    /// @dev Ready → Running: one frame of the entry function, no locals (run_batch takes none).
    function enterBatch(ExecutionContext calldata ctx, Machine.State memory m) internal pure returns (bytes32) {
        m.status = Machine.RUNNING;
        m.func = ctx.entryFunction;
        m.offset = 0;
        m.values.items = new uint64[](0);
        m.frames.items = new StackFrame.Frame[](1);
        m.frames.items[0] = StackFrame.Frame({func: ctx.entryFunction, retFunc: 0xffffffff, retOffset: 0xffffffff, localsCount: 0, localsRoot: bytes32(0)});
        m.frames.len = 1;
        m.frames.count = 1;
        m.codeRoot = ctx.codeRoot;
        return Machine.hash(m);
    }
}

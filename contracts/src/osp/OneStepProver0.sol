// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ExecutionContext, IOneStepProver} from "./IOneStepProver.sol";
import {Machine} from "./state/Machine.sol";
import {Instructions} from "./state/Instructions.sol";
import {ValueStack} from "./state/ValueStack.sol";
import {StackFrame} from "./state/StackFrame.sol";
import {MerkleProof} from "./state/MerkleProof.sol";
import {ModuleMemory} from "./state/ModuleMemory.sol";
import {ProofReader} from "./state/ProofReader.sol";
import {Module} from "./state/Module.sol";

/// @title OneStepProver0
/// @notice Control flow, calls (direct and through the table) and returns, ENTER, locals, globals, constants, drop/select,
///         unreachable and the abort host call (executor/vm/interpreter.ts).
contract OneStepProver0 is IOneStepProver {
    using ValueStack for ValueStack.Stack;
    using StackFrame for StackFrame.Stack;

    uint32 internal constant NONE = 0xffffffff;
    uint256 internal constant CALL_DEPTH = 1024;
    uint256 internal constant STACK_SLOTS = 65536;

    /// @notice An opcode this prover does not handle.
    error UnsupportedOpcode(uint16 op);
    /// @notice A local's path does not lead to the frame's locals root.
    error BadLocalsProof();
    /// @notice The globals do not hash to the machine's globals hash.
    error BadGlobals();
    /// @notice A local or global index outside the frame or the globals.
    error IndexOutOfRange();
    /// @notice The frame stack is inconsistent with a RETURN of the bottom frame.
    error BadFrameStack();
    /// @notice call_indirect to an imported host function: no engine module does it, and the host
    ///         provers take their arguments from a CALL_HOST instruction (executor/vm/proof.ts
    ///         `provable` is false for it, so an honest party never needs this step).
    error IndirectHostCall(uint32 func);

    /// @inheritdoc IOneStepProver
    function executeOneStep(
        ExecutionContext calldata ctx,
        Machine.State memory m,
        Instructions.Instruction calldata inst,
        bytes calldata w
    ) external pure override returns (Machine.State memory) {
        uint16 op = inst.op;
        if (op == Instructions.UNREACHABLE) {
            Machine.trap(m);
        } else if (op == Instructions.BR) {
            branch(m, inst);
        } else if (op == Instructions.BR_IF) {
            if (uint32(m.values.pop()) != 0) branch(m, inst);
        } else if (op == Instructions.BR_TABLE) {
            uint256 x = uint32(m.values.pop());
            m.offset = uint32(uint256(m.offset) + (x < inst.a ? x : inst.a));
        } else if (op == Instructions.RETURN) {
            doReturn(ctx, m, inst, w);
        } else if (op == Instructions.CALL) {
            doCall(m, inst.a, inst.b);
        } else if (op == Instructions.CALL_INDIRECT) {
            callIndirect(ctx, m, inst, w);
        } else if (op == Instructions.DROP) {
            m.values.pop();
        } else if (op == Instructions.SELECT) {
            uint32 c = uint32(m.values.pop());
            uint64 b = m.values.pop();
            uint64 a = m.values.pop();
            m.values.push(c != 0 ? a : b);
        } else if (op >= Instructions.LOCAL_GET && op <= Instructions.LOCAL_TEE) {
            local(m, inst, w);
        } else if (op == Instructions.GLOBAL_GET || op == Instructions.GLOBAL_SET) {
            global(m, inst, w);
        } else if (op == Instructions.I32_CONST) {
            m.values.push(inst.a);
        } else if (op == Instructions.I64_CONST) {
            m.values.push((uint64(inst.b) << 32) | inst.a);
        } else if (op == Instructions.JUMP_IF_ZERO) {
            if (uint32(m.values.pop()) == 0) m.offset = inst.a;
        } else if (op == Instructions.JUMP) {
            m.offset = inst.a;
        } else if (op == Instructions.JUMP_IF) {
            if (uint32(m.values.pop()) != 0) m.offset = inst.a;
        } else if (op == Instructions.ENTER) {
            enter(m, inst, w);
        } else if (op == Instructions.CALL_HOST && inst.b == 4) {
            Machine.trap(m); // env.abort
        } else {
            revert UnsupportedOpcode(op);
        }
        return m;
    }

    function branch(Machine.State memory m, Instructions.Instruction calldata inst) internal pure {
        uint256 keep = inst.b >> 16;
        uint256 drop = inst.b & 0xffff;
        uint64[] memory kept = new uint64[](keep);
        for (uint256 i = keep; i > 0; i--) kept[i - 1] = m.values.pop();
        for (uint256 i = 0; i < drop; i++) m.values.pop();
        for (uint256 i = 0; i < keep; i++) m.values.push(kept[i]);
        m.offset = inst.a;
    }

    /// @dev `params` arguments move from the operands into the new frame's locals.
    function doCall(Machine.State memory m, uint32 func, uint256 params) internal pure {
        if (m.frames.count >= CALL_DEPTH) return Machine.trap(m);
        uint256 n = params;
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = n; i > 0; i--) leaves[i - 1] = bytes32(uint256(m.values.pop()));
        m.frames.push(
            StackFrame.Frame({
                func: func,
                retFunc: m.func,
                retOffset: m.offset,
                localsCount: uint32(n),
                localsRoot: MerkleProof.rootOfLeaves(leaves)
            })
        );
        m.func = func;
        m.offset = 0;
    }

    /// @dev The traps and their order follow interpreter.ts: index past the table, empty entry,
    ///      signature mismatch. The witness is the entry's leaf and path unless the index is past
    ///      the table. The lowering puts the signature's parameter count in `b`.
    function callIndirect(ExecutionContext calldata ctx, Machine.State memory m, Instructions.Instruction calldata inst, bytes calldata w)
        internal
        pure
    {
        uint256 x = uint32(m.values.pop());
        if (x >= ctx.tableSize) return Machine.trap(m);
        (Module.TableEntry memory e,) = Module.proveEntry(ctx, w, 0, x);
        if (e.kind == Module.ENTRY_UNINITIALIZED || e.sig != inst.a) return Machine.trap(m);
        if (e.kind != Module.ENTRY_FUNCTION) revert IndirectHostCall(e.func);
        doCall(m, e.func, inst.b);
    }

    function doReturn(ExecutionContext calldata ctx, Machine.State memory m, Instructions.Instruction calldata inst, bytes calldata w)
        internal
        pure
    {
        uint256 n = inst.a;
        uint256 h = inst.b;
        uint64[] memory results = new uint64[](n);
        for (uint256 i = n; i > 0; i--) results[i - 1] = m.values.pop();
        for (uint256 i = n; i < h; i++) m.values.pop();
        StackFrame.Frame memory f = m.frames.pop();
        for (uint256 i = 0; i < n; i++) m.values.push(results[i]);
        if (f.retFunc != NONE) {
            m.func = f.retFunc;
            m.offset = f.retOffset;
            return;
        }
        if (m.frames.count != 0) revert BadFrameStack();
        m.func = NONE;
        m.offset = NONE;
        if (f.func != ctx.entryFunction) {
            m.status = Machine.FINISHED;
            return;
        }
        // the entry function returned: the batch is done, the machine is Ready at the next position
        if (m.values.size != 0) revert BadFrameStack();
        (ModuleMemory.LeafProof memory lp,) = ModuleMemory.prove(w, 0, ctx.outboxRootPtr / 32, m.memoryRoot);
        m.outboxRoot = lp.leaf;
        m.status = Machine.READY;
        m.inboxPosition += 1;
    }

    function enter(Machine.State memory m, Instructions.Instruction calldata inst, bytes calldata w) internal pure {
        StackFrame.Frame memory f = m.frames.top();
        uint256 params = f.localsCount;
        // before ENTER the frame has no operands: its base is the stack height minus its parameters
        uint256 fp = uint256(m.values.size) + m.frames.localsTotal - params;
        if (fp + inst.b > STACK_SLOTS) return Machine.trap(m);
        uint256 total = params + inst.a;
        bytes32[] memory leaves = new bytes32[](total);
        uint256 o = 0;
        for (uint256 i = 0; i < params; i++) {
            uint64 v;
            (v, o) = ProofReader.u64(w, o);
            leaves[i] = bytes32(uint256(v));
        }
        bytes32[] memory copy = new bytes32[](params);
        for (uint256 i = 0; i < params; i++) copy[i] = leaves[i];
        if (MerkleProof.rootOfLeaves(copy) != f.localsRoot) revert BadLocalsProof();
        f.localsCount = uint32(total);
        f.localsRoot = MerkleProof.rootOfLeaves(leaves);
        m.frames.localsTotal += inst.a;
    }

    function local(Machine.State memory m, Instructions.Instruction calldata inst, bytes calldata w) internal pure {
        StackFrame.Frame memory f = m.frames.top();
        if (inst.a >= f.localsCount) revert IndexOutOfRange();
        (uint64 v, uint256 o) = ProofReader.u64(w, 0);
        (bytes32[] memory path,) = MerkleProof.readPath(w, o, MerkleProof.depthOf(f.localsCount));
        if (MerkleProof.rootOf(bytes32(uint256(v)), inst.a, path) != f.localsRoot) revert BadLocalsProof();
        if (inst.op == Instructions.LOCAL_GET) {
            m.values.push(v);
            return;
        }
        uint64 x = inst.op == Instructions.LOCAL_SET ? m.values.pop() : m.values.peek();
        f.localsRoot = MerkleProof.rootOf(bytes32(uint256(x)), inst.a, path);
    }

    function global(Machine.State memory m, Instructions.Instruction calldata inst, bytes calldata w) internal pure {
        (uint16 n, uint256 o) = ProofReader.u16(w, 0);
        if (inst.a >= n) revert IndexOutOfRange();
        if (o + uint256(n) * 9 > w.length) revert ProofReader.ProofTooShort(o);
        bytes memory g = w[o:o + uint256(n) * 9];
        if (keccak256(g) != m.globalsHash) revert BadGlobals();
        uint256 pos = uint256(inst.a) * 9 + 1;
        if (inst.op == Instructions.GLOBAL_GET) {
            uint64 v;
            for (uint256 i = 0; i < 8; i++) v = (v << 8) | uint8(g[pos + i]);
            m.values.push(v);
            return;
        }
        uint64 x = m.values.pop();
        for (uint256 i = 0; i < 8; i++) g[pos + i] = bytes1(uint8(x >> (56 - 8 * i)));
        m.globalsHash = keccak256(g);
    }
}

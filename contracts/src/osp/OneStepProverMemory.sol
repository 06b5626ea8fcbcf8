// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ExecutionContext, IOneStepProver} from "./IOneStepProver.sol";
import {Machine} from "./state/Machine.sol";
import {Instructions} from "./state/Instructions.sol";
import {ValueStack} from "./state/ValueStack.sol";
import {ModuleMemory} from "./state/ModuleMemory.sol";

/// @title OneStepProverMemory
/// @notice Loads, stores, memory.size and memory.grow against the memory Merkle tree. An access may
///         span two 32-byte leaves; a store proves the second leaf against the tree with the first
///         one already written.
contract OneStepProverMemory is IOneStepProver {
    using ValueStack for ValueStack.Stack;

    /// @notice An opcode this prover does not handle.
    error UnsupportedOpcode(uint16 op);

    /// @inheritdoc IOneStepProver
    function executeOneStep(
        ExecutionContext calldata ctx,
        Machine.State memory m,
        Instructions.Instruction calldata inst,
        bytes calldata w
    ) external pure override returns (Machine.State memory) {
        uint16 op = inst.op;
        if (op == Instructions.MEMORY_SIZE) {
            m.values.push(m.pages);
        } else if (op == Instructions.MEMORY_GROW) {
            uint256 delta = uint32(m.values.pop());
            uint256 old = m.pages;
            if (delta == 0) {
                m.values.push(uint64(old));
            } else if (old + delta > ctx.maxMemoryPages) {
                m.values.push(0xffffffff);
            } else {
                m.pages = uint32(old + delta); // new pages are zero: the fixed-depth root is unchanged
                m.values.push(uint64(old));
            }
        } else if (op >= 0x28 && op <= 0x35) {
            load(m, inst, w);
        } else if (op >= 0x36 && op <= 0x3e) {
            store(m, inst, w);
        } else {
            revert UnsupportedOpcode(op);
        }
        return m;
    }

    function width(uint16 op) internal pure returns (uint256) {
        if (op == 0x28 || op == 0x34 || op == 0x35 || op == 0x36 || op == 0x3e) return 4;
        if (op == 0x29 || op == 0x37) return 8;
        if (op == 0x2c || op == 0x2d || op == 0x30 || op == 0x31 || op == 0x3a || op == 0x3c) return 1;
        if (op == 0x2e || op == 0x2f || op == 0x32 || op == 0x33 || op == 0x3b || op == 0x3d) return 2;
        revert UnsupportedOpcode(op);
    }

    function load(Machine.State memory m, Instructions.Instruction calldata inst, bytes calldata w) internal pure {
        uint16 op = inst.op;
        uint256 n = width(op);
        uint256 ea = uint256(uint32(m.values.pop())) + inst.a;
        if (ea + n > uint256(m.pages) * ModuleMemory.PAGE) return Machine.trap(m);
        (ModuleMemory.LeafProof memory a, uint256 o) = ModuleMemory.prove(w, 0, ea / 32, m.memoryRoot);
        bytes32 second;
        uint256 pos = ea % 32;
        if (pos + n > 32) {
            (ModuleMemory.LeafProof memory b2,) = ModuleMemory.prove(w, o, ea / 32 + 1, m.memoryRoot);
            second = b2.leaf;
        }
        uint64 v;
        for (uint256 i = n; i > 0; i--) {
            uint256 j = pos + i - 1;
            v = (v << 8) | (j < 32 ? ModuleMemory.getByte(a.leaf, j) : ModuleMemory.getByte(second, j - 32));
        }
        if (op == 0x28 || op == 0x2d || op == 0x2f || op == 0x31 || op == 0x33 || op == 0x35 || op == 0x29) {
            m.values.push(v);
        } else if (op == 0x2c) {
            m.values.push(uint32(int32(int8(uint8(v)))));
        } else if (op == 0x2e) {
            m.values.push(uint32(int32(int16(uint16(v)))));
        } else if (op == 0x30) {
            m.values.push(uint64(int64(int8(uint8(v)))));
        } else if (op == 0x32) {
            m.values.push(uint64(int64(int16(uint16(v)))));
        } else {
            m.values.push(uint64(int64(int32(uint32(v))))); // 0x34
        }
    }

    function store(Machine.State memory m, Instructions.Instruction calldata inst, bytes calldata w) internal pure {
        uint256 n = width(inst.op);
        uint64 v = m.values.pop();
        uint256 ea = uint256(uint32(m.values.pop())) + inst.a;
        if (ea + n > uint256(m.pages) * ModuleMemory.PAGE) return Machine.trap(m);
        (ModuleMemory.LeafProof memory a, uint256 o) = ModuleMemory.prove(w, 0, ea / 32, m.memoryRoot);
        uint256 pos = ea % 32;
        bytes32 leaf = a.leaf;
        for (uint256 i = 0; i < n && pos + i < 32; i++) leaf = ModuleMemory.setByte(leaf, pos + i, uint8(v >> (8 * i)));
        bytes32 root = ModuleMemory.rootWith(a, leaf);
        if (pos + n > 32) {
            (ModuleMemory.LeafProof memory b,) = ModuleMemory.prove(w, o, ea / 32 + 1, root);
            bytes32 leaf2 = b.leaf;
            for (uint256 i = 32 - pos; i < n; i++) leaf2 = ModuleMemory.setByte(leaf2, pos + i - 32, uint8(v >> (8 * i)));
            root = ModuleMemory.rootWith(b, leaf2);
        }
        m.memoryRoot = root;
    }
}

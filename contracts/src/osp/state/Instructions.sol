// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProofReader} from "./ProofReader.sol";
import {MerkleProof} from "./MerkleProof.sol";

/// @title Instructions
/// @notice The lowered instruction set (executor/vm/opcodes.ts): op u16 ‖ a u32 ‖ b u32, and its
///         proof against the code root (function tree path, then code tree path).
library Instructions {
    struct Instruction {
        uint16 op;
        uint32 a;
        uint32 b;
    }

    uint16 internal constant UNREACHABLE = 0x00;
    uint16 internal constant BR = 0x0c;
    uint16 internal constant BR_IF = 0x0d;
    uint16 internal constant BR_TABLE = 0x0e;
    uint16 internal constant RETURN = 0x0f;
    uint16 internal constant CALL = 0x10;
    uint16 internal constant CALL_INDIRECT = 0x11;
    uint16 internal constant DROP = 0x1a;
    uint16 internal constant SELECT = 0x1b;
    uint16 internal constant LOCAL_GET = 0x20;
    uint16 internal constant LOCAL_SET = 0x21;
    uint16 internal constant LOCAL_TEE = 0x22;
    uint16 internal constant GLOBAL_GET = 0x23;
    uint16 internal constant GLOBAL_SET = 0x24;
    uint16 internal constant MEMORY_SIZE = 0x3f;
    uint16 internal constant MEMORY_GROW = 0x40;
    uint16 internal constant I32_CONST = 0x41;
    uint16 internal constant I64_CONST = 0x42;
    uint16 internal constant JUMP_IF_ZERO = 0xe0;
    uint16 internal constant JUMP = 0xe1;
    uint16 internal constant CALL_HOST = 0xe2;
    uint16 internal constant ENTER = 0xe3;
    uint16 internal constant JUMP_IF = 0xe4;

    /// @notice The instruction's path does not lead to the machine's code root.
    error BadCodeProof(bytes32 computed, bytes32 codeRoot);
    /// @notice The machine's function index is not in the code tree.
    error FunctionOutOfRange(uint32 func, uint32 count);

    /// @notice The 32-byte code leaf: the encoding, zero-padded.
    function leaf(Instruction memory i) internal pure returns (bytes32) {
        return bytes32(abi.encodePacked(i.op, i.a, i.b));
    }

    /// @notice Reads the instruction at (func, offset) and checks it against codeRoot.
    function parseAndProve(bytes calldata p, uint256 o, uint32 func, uint32 offset, bytes32 codeRoot)
        internal
        pure
        returns (Instruction memory inst, uint256)
    {
        (inst.op, o) = ProofReader.u16(p, o);
        (inst.a, o) = ProofReader.u32(p, o);
        (inst.b, o) = ProofReader.u32(p, o);
        uint8 d;
        bytes32[] memory path;
        (d, o) = ProofReader.u8(p, o);
        (path, o) = MerkleProof.readPath(p, o, d);
        bytes32 fnRoot = MerkleProof.rootOf(leaf(inst), offset, path);
        uint32 count;
        (count, o) = ProofReader.u32(p, o);
        if (func >= count) revert FunctionOutOfRange(func, count);
        (path, o) = MerkleProof.readPath(p, o, MerkleProof.depthOf(count));
        bytes32 computed = keccak256(abi.encodePacked(count, MerkleProof.rootOf(fnRoot, func, path)));
        if (computed != codeRoot) revert BadCodeProof(computed, codeRoot);
        return (inst, o);
    }
}

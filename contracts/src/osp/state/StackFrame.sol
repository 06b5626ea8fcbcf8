// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProofReader} from "./ProofReader.sol";

/// @title StackFrame
/// @notice Call frames and the frame-stack hash chain (docs/vm.md):
///         frameHash = keccak256(func u32 ‖ returnFunc u32 ‖ returnOffset u32 ‖ localsCount u32 ‖ localsRoot),
///         h_i = keccak256(frameHash_i ‖ h_{i-1}).
library StackFrame {
    struct Frame {
        uint32 func;
        uint32 retFunc;
        uint32 retOffset;
        uint32 localsCount;
        bytes32 localsRoot;
    }

    struct Stack {
        Frame[] items;
        uint256 len;
        bytes32 rest;
        uint32 count;
        /// locals of all frames together
        uint32 localsTotal;
    }

    /// @notice The proof did not reveal the frame an instruction needs.
    error FrameNotRevealed();
    /// @notice A proof reveals at most the top frame.
    error TooManyFrames();

    function parse(bytes calldata p, uint256 o) internal pure returns (Stack memory s, uint256) {
        uint8 n;
        (s.count, o) = ProofReader.u32(p, o);
        (s.localsTotal, o) = ProofReader.u32(p, o);
        (n, o) = ProofReader.u8(p, o);
        if (n > 1 || n > s.count) revert TooManyFrames();
        s.items = new Frame[](2);
        if (n == 1) {
            Frame memory f = s.items[0];
            (f.func, o) = ProofReader.u32(p, o);
            (f.retFunc, o) = ProofReader.u32(p, o);
            (f.retOffset, o) = ProofReader.u32(p, o);
            (f.localsCount, o) = ProofReader.u32(p, o);
            (f.localsRoot, o) = ProofReader.b32(p, o);
        }
        s.len = n;
        (s.rest, o) = ProofReader.b32(p, o);
        return (s, o);
    }

    function frameHash(Frame memory f) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(f.func, f.retFunc, f.retOffset, f.localsCount, f.localsRoot));
    }

    function hash(Stack memory s) internal pure returns (bytes32 h) {
        h = s.rest;
        for (uint256 i = 0; i < s.len; i++) {
            h = keccak256(abi.encodePacked(frameHash(s.items[i]), h));
        }
    }

    function top(Stack memory s) internal pure returns (Frame memory) {
        if (s.len == 0) revert FrameNotRevealed();
        return s.items[s.len - 1];
    }

    function pop(Stack memory s) internal pure returns (Frame memory f) {
        if (s.len == 0) revert FrameNotRevealed();
        s.len--;
        s.count--;
        f = s.items[s.len];
        s.localsTotal -= f.localsCount;
    }

    function push(Stack memory s, Frame memory f) internal pure {
        if (s.len == s.items.length) revert TooManyFrames();
        s.items[s.len++] = f;
        s.count++;
        s.localsTotal += f.localsCount;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProofReader} from "./ProofReader.sol";

/// @title ValueStack
/// @notice The hashed value stack (docs/vm.md): h_i = keccak256(value_i u64 ‖ h_{i-1}). A proof
///         reveals the top items an instruction touches and the hash of the rest.
library ValueStack {
    struct Stack {
        /// revealed items, bottom first (room for pushes after them)
        uint64[] items;
        uint256 len;
        bytes32 rest;
        /// all values on the stack, revealed or not
        uint32 size;
    }

    /// @notice The proof did not reveal the value an instruction pops.
    error ValueNotRevealed();
    /// @notice More values pushed than the prover allowed room for.
    error ValueStackFull();
    /// @notice More values revealed than the stack holds.
    error TooManyValues();

    uint256 internal constant ROOM = 2;

    function parse(bytes calldata p, uint256 o) internal pure returns (Stack memory s, uint256) {
        uint8 n;
        (s.size, o) = ProofReader.u32(p, o);
        (n, o) = ProofReader.u8(p, o);
        if (n > s.size) revert TooManyValues();
        s.items = new uint64[](uint256(n) + ROOM);
        for (uint256 i = 0; i < n; i++) {
            (s.items[i], o) = ProofReader.u64(p, o);
        }
        s.len = n;
        (s.rest, o) = ProofReader.b32(p, o);
        return (s, o);
    }

    function hash(Stack memory s) internal pure returns (bytes32 h) {
        h = s.rest;
        for (uint256 i = 0; i < s.len; i++) {
            uint64 v = s.items[i];
            assembly {
                mstore(0x00, shl(192, v))
                mstore(0x08, h)
                h := keccak256(0x00, 0x28)
            }
        }
    }

    function pop(Stack memory s) internal pure returns (uint64 v) {
        if (s.len == 0) revert ValueNotRevealed();
        s.len--;
        s.size--;
        v = s.items[s.len];
    }

    function peek(Stack memory s) internal pure returns (uint64) {
        if (s.len == 0) revert ValueNotRevealed();
        return s.items[s.len - 1];
    }

    function push(Stack memory s, uint64 v) internal pure {
        if (s.len == s.items.length) revert ValueStackFull();
        s.items[s.len++] = v;
        s.size++;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ProofReader
/// @notice Sequential big-endian readers over a one-step proof in calldata (executor/vm/proof.ts).
library ProofReader {
    /// @notice The proof ended before a field.
    error ProofTooShort(uint256 offset);

    function u8(bytes calldata p, uint256 o) internal pure returns (uint8 v, uint256) {
        if (o + 1 > p.length) revert ProofTooShort(o);
        return (uint8(p[o]), o + 1);
    }

    function u16(bytes calldata p, uint256 o) internal pure returns (uint16 v, uint256) {
        if (o + 2 > p.length) revert ProofTooShort(o);
        assembly {
            v := shr(240, calldataload(add(p.offset, o)))
        }
        return (v, o + 2);
    }

    function u32(bytes calldata p, uint256 o) internal pure returns (uint32 v, uint256) {
        if (o + 4 > p.length) revert ProofTooShort(o);
        assembly {
            v := shr(224, calldataload(add(p.offset, o)))
        }
        return (v, o + 4);
    }

    function u64(bytes calldata p, uint256 o) internal pure returns (uint64 v, uint256) {
        if (o + 8 > p.length) revert ProofTooShort(o);
        assembly {
            v := shr(192, calldataload(add(p.offset, o)))
        }
        return (v, o + 8);
    }

    function b32(bytes calldata p, uint256 o) internal pure returns (bytes32 v, uint256) {
        if (o + 32 > p.length) revert ProofTooShort(o);
        assembly {
            v := calldataload(add(p.offset, o))
        }
        return (v, o + 32);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProofReader} from "./ProofReader.sol";

/// @title MerkleProof
/// @notice The small binary keccak trees of executor/vm/merkle.ts (code, locals) and the fixed-depth
///         memory tree: node = keccak256(left ‖ right), an unpaired node is paired with 32 zero bytes.
library MerkleProof {
    /// @notice A leaf index does not fit the tree.
    error IndexOutOfRange(uint256 index, uint256 depth);

    /// @notice ceil(log2(n)): the depth of a tree of n leaves (0 for n ≤ 1).
    function depthOf(uint256 n) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < n) d++;
    }

    /// @notice Reads `depth` siblings (bottom first) from the proof.
    function readPath(bytes calldata p, uint256 o, uint256 depth) internal pure returns (bytes32[] memory path, uint256) {
        path = new bytes32[](depth);
        for (uint256 i = 0; i < depth; i++) {
            (path[i], o) = ProofReader.b32(p, o);
        }
        return (path, o);
    }

    /// @notice The root over `leaf` at `index` with the given siblings.
    function rootOf(bytes32 leaf, uint256 index, bytes32[] memory path) internal pure returns (bytes32 h) {
        if (path.length < 256 && index >> path.length != 0) revert IndexOutOfRange(index, path.length);
        h = leaf;
        uint256 n = path.length;
        assembly {
            let p := add(path, 0x20)
            for { let k := 0 } lt(k, n) { k := add(k, 1) } {
                let s := mload(add(p, shl(5, k)))
                switch and(shr(k, index), 1)
                case 1 {
                    mstore(0x00, s)
                    mstore(0x20, h)
                }
                default {
                    mstore(0x00, h)
                    mstore(0x20, s)
                }
                h := keccak256(0x00, 0x40)
            }
        }
    }

    /// @notice keccak256(a ‖ b) in scratch space.
    function hash2(bytes32 a, bytes32 b) internal pure returns (bytes32 h) {
        assembly {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @notice merkleRoot of executor/vm/merkle.ts over a full list of leaves.
    function rootOfLeaves(bytes32[] memory layer) internal pure returns (bytes32) {
        uint256 n = layer.length;
        if (n == 0) return bytes32(0);
        while (n > 1) {
            uint256 m = (n + 1) / 2;
            for (uint256 i = 0; i < m; i++) {
                bytes32 l = layer[2 * i];
                bytes32 r = 2 * i + 1 < n ? layer[2 * i + 1] : bytes32(0);
                layer[i] = hash2(l, r);
            }
            n = m;
        }
        return layer[0];
    }
}

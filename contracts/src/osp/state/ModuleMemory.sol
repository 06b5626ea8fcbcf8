// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProofReader} from "./ProofReader.sol";
import {MerkleProof} from "./MerkleProof.sol";

/// @title ModuleMemory
/// @notice Linear memory as the fixed-depth keccak tree of docs/protocol.md §9: 32-byte leaves used
///         as they are, depth 23 (executor/vm/memoryTree.ts).
library ModuleMemory {
    uint256 internal constant DEPTH = 23;
    uint256 internal constant PAGE = 65536;

    /// @notice A memory leaf does not lead to the machine's memory root.
    error BadMemoryProof(uint256 leafIndex);

    struct LeafProof {
        bytes32 leaf;
        uint256 index;
        bytes32[] path;
    }

    /// @notice Reads a leaf and its path and checks it against `root`.
    function prove(bytes calldata p, uint256 o, uint256 index, bytes32 root) internal pure returns (LeafProof memory lp, uint256) {
        lp.index = index;
        (lp.leaf, o) = ProofReader.b32(p, o);
        (lp.path, o) = MerkleProof.readPath(p, o, DEPTH);
        if (MerkleProof.rootOf(lp.leaf, index, lp.path) != root) revert BadMemoryProof(index);
        return (lp, o);
    }

    /// @notice The root after replacing the proven leaf.
    function rootWith(LeafProof memory lp, bytes32 newLeaf) internal pure returns (bytes32) {
        return MerkleProof.rootOf(newLeaf, lp.index, lp.path);
    }

    function getByte(bytes32 leaf, uint256 j) internal pure returns (uint8) {
        return uint8(leaf[j]);
    }

    function setByte(bytes32 leaf, uint256 j, uint8 v) internal pure returns (bytes32) {
        uint256 shift = 8 * (31 - j);
        return bytes32((uint256(leaf) & ~(uint256(0xff) << shift)) | (uint256(v) << shift));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title BinaryMerkle
/// @notice Fixed-depth binary keccak Merkle proofs, in the layout of docs/protocol.md §7:
///         node = keccak256(left ‖ right), and bit `i` of the leaf index set means the sibling at
///         level `i` is on the left.
/// @dev Unlike OpenZeppelin's MerkleProof, which sorts each pair, the position of every node is
///      fixed by the index, so a proof binds the leaf to exactly one index.
library BinaryMerkle {
    /// @notice Folds `proof` onto `leaf` from the bottom up.
    /// @dev The caller must bound `index` to `2 ** proof.length`: higher bits are ignored here, so
    ///      an unbounded index would give several indices the same proof.
    /// @param leaf  The leaf hash.
    /// @param index The leaf's position; bit `i` picks the side of `proof[i]`.
    /// @param proof The sibling at each level, the leaf's sibling first.
    /// @return node The root the proof implies.
    function computeRoot(bytes32 leaf, uint256 index, bytes32[] calldata proof) internal pure returns (bytes32 node) {
        node = leaf;
        uint256 depth = proof.length;
        for (uint256 i = 0; i < depth; ++i) {
            bytes32 sibling = proof[i];
            // Hashes the pair in the scratch space (0x00..0x40), which Solidity leaves free for this.
            if ((index >> i) & 1 == 1) {
                assembly ("memory-safe") {
                    mstore(0x00, sibling)
                    mstore(0x20, node)
                    node := keccak256(0x00, 0x40)
                }
            } else {
                assembly ("memory-safe") {
                    mstore(0x00, node)
                    mstore(0x20, sibling)
                    node := keccak256(0x00, 0x40)
                }
            }
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MerkleProof} from "./MerkleProof.sol";
import {ModuleMemory} from "./ModuleMemory.sol";

/// @title MemoryMultiProof
/// @notice Several contiguous byte ranges of linear memory proven at once against the memory root
///         (docs/vm.md "One-step proofs", host functions): the proof carries every 32-byte leaf that
///         covers one of the ranges (sorted by leaf index, each once) and then the siblings the
///         bottom-up computation below consumes, in the order it consumes them. The leaves are kept
///         as one byte image, so a range is a contiguous slice of it; after the step has read and
///         written the image, one pass over the same siblings checks the old root and yields the new.
library MemoryMultiProof {
    /// @notice The leaves do not lead to the machine's memory root.
    error BadMemoryMultiProof(bytes32 computed, bytes32 root);

    struct Image {
        /// leaf indices, ascending
        uint256[] idx;
        /// the proven leaves, 32 bytes each, in idx order (read and written by the step)
        bytes data;
        /// the leaves as proven (before the step)
        bytes32[] old;
    }

    /// @notice The sorted union of the leaves covering the ranges (addr[i], len[i]); empty ranges add nothing.
    function leavesOf(uint256[3] memory addr, uint256[3] memory len) internal pure returns (uint256[] memory idx) {
        // sort the (at most 3) non-empty ranges by first leaf
        uint256[3] memory first;
        uint256[3] memory last;
        uint256 r;
        uint256 total;
        for (uint256 i = 0; i < 3; i++) {
            if (len[i] == 0) continue;
            uint256 f = addr[i] / 32;
            uint256 l = (addr[i] + len[i] - 1) / 32;
            uint256 j = r;
            while (j > 0 && first[j - 1] > f) {
                first[j] = first[j - 1];
                last[j] = last[j - 1];
                j--;
            }
            first[j] = f;
            last[j] = l;
            r++;
            total += l - f + 1;
        }
        uint256[] memory out = new uint256[](total);
        uint256 n;
        for (uint256 i = 0; i < r; i++) {
            uint256 f = first[i];
            if (n > 0 && out[n - 1] >= f) f = out[n - 1] + 1;
            for (uint256 x = f; x <= last[i]; x++) out[n++] = x;
        }
        assembly {
            mstore(out, n)
        }
        return out;
    }

    /// @notice Reads the leaves of `idx` from the proof.
    function read(bytes calldata p, uint256 o, uint256[] memory idx) internal pure returns (Image memory im, uint256) {
        uint256 k = idx.length;
        im.idx = idx;
        im.data = new bytes(32 * k);
        im.old = new bytes32[](k);
        if (o + 32 * k > p.length) revert BadMemoryMultiProof(0, 0);
        bytes memory data = im.data;
        bytes32[] memory old = im.old;
        assembly {
            calldatacopy(add(data, 0x20), add(p.offset, o), mul(32, k))
            for { let j := 0 } lt(j, k) { j := add(j, 1) } {
                mstore(add(add(old, 0x20), shl(5, j)), mload(add(add(data, 0x20), shl(5, j))))
            }
        }
        return (im, o + 32 * k);
    }

    /// @notice Memory pointer of byte `addr` in the image (its leaf must be in the image).
    function ptr(Image memory im, uint256 addr) internal pure returns (uint256 q) {
        uint256 leaf = addr / 32;
        uint256[] memory idx = im.idx;
        uint256 j;
        while (idx[j] != leaf) j++;
        bytes memory data = im.data;
        assembly {
            q := add(add(data, 0x20), add(shl(5, j), mod(addr, 32)))
        }
    }

    /// @notice Checks the proven leaves against `root` with the siblings that follow at `o`, and
    ///         returns the root over the image as the step left it.
    /// @dev One pass computes the old and the new hash of every node over the same siblings; the new
    ///      one is only hashed where a leaf below it changed. Nodes are kept as (index, old, new)
    ///      triples of words in one scratch array, rewritten in place level by level.
    function update(Image memory im, bytes calldata p, uint256 o, bytes32 root) internal pure returns (bytes32 newRoot, uint256) {
        uint256 k = im.idx.length;
        if (k == 0) return (root, o);
        uint256[] memory idx = im.idx;
        bytes32[] memory old = im.old;
        bytes memory data = im.data;
        bytes32 oldRoot;
        uint256 base;
        uint256 cur;
        assembly {
            base := p.offset
            cur := add(base, o)
            let end := add(base, p.length)
            // three parallel word arrays: index, old hash, new hash (a pair is hashed where it lies)
            let X := mload(0x40)
            let O := add(X, shl(5, k))
            let N := add(O, shl(5, k))
            mstore(0x40, add(N, shl(5, k)))
            let len := shl(5, k)
            mcopy(X, add(idx, 0x20), len)
            mcopy(O, add(old, 0x20), len)
            mcopy(N, add(data, 0x20), len)
            for { let level := 0 } lt(level, 23) { level := add(level, 1) } {
                let n := 0
                let i := 0
                for {} lt(i, k) {} {
                    let x := mload(add(X, shl(5, i)))
                    let oi := add(O, shl(5, i))
                    let ni := add(N, shl(5, i))
                    let h := 0
                    let hn := 0
                    // paired: x even and the next node is x + 1
                    let paired := and(iszero(and(x, 1)), and(lt(add(i, 1), k), eq(mload(add(X, shl(5, add(i, 1)))), add(x, 1))))
                    if paired {
                        h := keccak256(oi, 0x40)
                        hn := h
                        if or(xor(mload(ni), mload(oi)), xor(mload(add(ni, 0x20)), mload(add(oi, 0x20)))) { hn := keccak256(ni, 0x40) }
                        i := add(i, 2)
                    }
                    if iszero(paired) {
                        if gt(add(cur, 32), end) { revert(0, 0) }
                        let sib := calldataload(cur)
                        cur := add(cur, 32)
                        let odd := shl(5, and(x, 1))
                        // the node at 0x00 or 0x20, the sibling in the other word
                        mstore(xor(odd, 0x20), sib)
                        mstore(odd, mload(oi))
                        h := keccak256(0x00, 0x40)
                        hn := h
                        let nv := mload(ni)
                        if xor(nv, mload(oi)) {
                            mstore(odd, nv)
                            hn := keccak256(0x00, 0x40)
                        }
                        i := add(i, 1)
                    }
                    let d := shl(5, n)
                    mstore(add(X, d), shr(1, x))
                    mstore(add(O, d), h)
                    mstore(add(N, d), hn)
                    n := add(n, 1)
                }
                k := n
            }
            oldRoot := mload(O)
            newRoot := mload(N)
        }
        if (oldRoot != root) revert BadMemoryMultiProof(oldRoot, root);
        return (newRoot, cur - base);
    }
}

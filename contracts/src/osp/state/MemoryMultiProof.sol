// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title MemoryMultiProof
/// @notice Several contiguous byte ranges of linear memory proven at once against the memory root
///         (docs/vm.md "One-step proofs", host functions): the proof carries every 32-byte leaf that
///         covers one of the ranges (sorted by leaf index, each once) and then the siblings the
///         bottom-up computation below consumes, in the order it consumes them. The leaves are kept
///         as one byte image, so a range is a contiguous slice of it; after the step has read and
///         written the image, one pass over the same siblings checks the old root and yields the new.
/// @dev The leaves are handled as at most three runs of consecutive indices rather than as a list of
///      indices: a level of the tree then needs no per-node index bookkeeping (inside a run, nodes
///      pair up two by two; only a run's ends can take a sibling from the proof), which is where the
///      gas of a 1 KB keccak256 went. The work is in assembly because Solidity's bounds-checked
///      memory arrays cost several times the two KECCAK256 per node that remain.
library MemoryMultiProof {
    /// @notice The leaves do not lead to the machine's memory root (0, 0: the proof is too short).
    error BadMemoryMultiProof(bytes32 computed, bytes32 root);
    /// @notice The proof ends (at `length`) before the last sibling the pass needs.
    error MissingSibling(uint256 length);
    /// @notice A byte outside the proven ranges was asked for (a bug in the caller, not the proof).
    error NotInImage(uint256 addr);

    /// @notice The proven leaves: at most three maximal runs of consecutive leaf indices, ascending
    ///         and neither overlapping nor adjacent, whose leaves are stored one after the other.
    /// @dev open(), ptr() and update() address run r's first and last leaf as the words at
    ///      0x80 + 0x40 × r and 0xa0 + 0x40 × r of the struct: the field order is part of the layout.
    ///      update() consumes the image (it rewrites the runs, `data` and `old` level by level).
    struct Image {
        /// memory address of the leaves as the step reads and writes them, 32 bytes each
        uint256 data;
        /// memory address of the leaves as proven (before the step)
        uint256 old;
        /// number of leaves
        uint256 count;
        /// number of runs (0 to 3)
        uint256 runs;
        uint256 first0;
        uint256 last0;
        uint256 first1;
        uint256 last1;
        uint256 first2;
        uint256 last2;
    }

    /// @notice Reads from the proof at `o` the leaves covering the byte ranges [a_i, a_i + n_i)
    ///         (empty ranges add nothing) and returns the image and the offset after the leaves.
    /// @dev The ranges must not wrap around 2^256 (the host functions pass 32-bit operands).
    function open(bytes calldata p, uint256 o, uint256 a0, uint256 n0, uint256 a1, uint256 n1, uint256 a2, uint256 n2)
        internal
        pure
        returns (Image memory im, uint256)
    {
        assembly ("memory-safe") {
            // the (first, last) leaf of each non-empty range, inserted in order of first leaf
            let r := 0
            function insert(img, rr, a, n) -> out {
                out := rr
                if n {
                    let f := shr(5, a)
                    let l := shr(5, sub(add(a, n), 1))
                    let j := rr
                    for {} j { j := sub(j, 1) } {
                        let prev := add(img, add(0x40, shl(6, j)))
                        if iszero(gt(mload(prev), f)) { break }
                        mstore(add(prev, 0x40), mload(prev))
                        mstore(add(prev, 0x60), mload(add(prev, 0x20)))
                    }
                    let at := add(img, add(0x80, shl(6, j)))
                    mstore(at, f)
                    mstore(add(at, 0x20), l)
                    out := add(rr, 1)
                }
            }
            r := insert(im, r, a0, n0)
            r := insert(im, r, a1, n1)
            r := insert(im, r, a2, n2)
            // merge ranges that overlap or touch into maximal runs, counting the leaves
            let count := 0
            let runs := 0
            for { let i := 0 } lt(i, r) { i := add(i, 1) } {
                let src := add(im, add(0x80, shl(6, i)))
                let f := mload(src)
                let l := mload(add(src, 0x20))
                let dst := add(im, add(0x40, shl(6, runs)))
                // runs > 0 and f ≤ last of the previous run + 1: extend it
                switch and(gt(runs, 0), iszero(gt(f, add(mload(add(dst, 0x20)), 1))))
                case 1 {
                    let pl := mload(add(dst, 0x20))
                    if gt(l, pl) {
                        mstore(add(dst, 0x20), l)
                        count := add(count, sub(l, pl))
                    }
                }
                default {
                    dst := add(dst, 0x40)
                    mstore(dst, f)
                    mstore(add(dst, 0x20), l)
                    count := add(count, add(sub(l, f), 1))
                    runs := add(runs, 1)
                }
            }
            mstore(add(im, 0x40), count)
            mstore(add(im, 0x60), runs)
        }
        uint256 size = 32 * im.count;
        if (o + size > p.length) revert BadMemoryMultiProof(0, 0);
        assembly ("memory-safe") {
            let data := mload(0x40)
            let old := add(data, size)
            mstore(0x40, add(old, size))
            calldatacopy(data, add(p.offset, o), size)
            calldatacopy(old, add(p.offset, o), size)
            mstore(im, data)
            mstore(add(im, 0x20), old)
        }
        return (im, o + size);
    }

    /// @notice Memory address of byte `addr` in the image (reverts if no proven leaf holds it).
    function ptr(Image memory im, uint256 addr) internal pure returns (uint256 q) {
        assembly ("memory-safe") {
            let leaf := shr(5, addr)
            let pos := mload(im)
            let end := add(im, add(0x80, shl(6, mload(add(im, 0x60)))))
            for { let run := add(im, 0x80) } 1 { run := add(run, 0x40) } {
                if eq(run, end) { break }
                let f := mload(run)
                let l := mload(add(run, 0x20))
                if and(iszero(lt(leaf, f)), iszero(gt(leaf, l))) {
                    q := add(add(pos, shl(5, sub(leaf, f))), and(addr, 31))
                    break
                }
                pos := add(pos, shl(5, add(sub(l, f), 1)))
            }
        }
        // q = 0: not found (the image is never at address 0)
        if (q == 0) revert NotInImage(addr);
    }

    /// @notice Checks the proven leaves against `root` with the siblings that follow at `o`, and
    ///         returns the root over the image as the step left it and the offset after the siblings.
    /// @dev One pass computes the old and the new hash of every node over the same siblings; the new
    ///      one is only hashed where a leaf below it changed. The level's nodes overwrite the level
    ///      below in place (in `old` and `data`, which are consumed), run by run, left to right: a
    ///      run starting at an odd index takes its left sibling from the proof, one ending at an even
    ///      index its right sibling, the nodes between pair up. Runs that become adjacent merge.
    ///      This consumes siblings in the order of executor/vm/proof.ts writeMultiProof.
    function update(Image memory im, bytes calldata p, uint256 o, bytes32 root) internal pure returns (bytes32 newRoot, uint256) {
        if (im.count == 0) return (root, o);
        bytes32 oldRoot;
        assembly ("memory-safe") {
            // siblings are read without a bound check per read (past the end of calldata they read
            // as zero); the offset is checked once after the pass
            let cur := add(p.offset, o)
            let O := mload(add(im, 0x20))
            // the new hash of the node at O + x is at O + x + D
            let D := sub(mload(im), O)
            let runs := mload(add(im, 0x60))
            let firstRun := add(im, 0x80)
            let lastRun := add(firstRun, shl(6, runs))
            // 23 levels: ModuleMemory.DEPTH
            let level := 0
            for {} lt(level, 23) { level := add(level, 1) } {
                // one node left: its path to the root is walked below, without the run bookkeeping
                if and(eq(lastRun, add(firstRun, 0x40)), eq(mload(firstRun), mload(add(firstRun, 0x20)))) { break }
                let rd := O
                let wr := O
                for { let run := firstRun } lt(run, lastRun) { run := add(run, 0x40) } {
                    let f := mload(run)
                    let l := mload(add(run, 0x20))
                    switch eq(f, l)
                    case 1 {
                        // a single node: the sibling is the other half
                        let odd := shl(5, and(f, 1))
                        mstore(xor(odd, 0x20), calldataload(cur))
                        cur := add(cur, 32)
                        let ov := mload(rd)
                        mstore(odd, ov)
                        let h := keccak256(0x00, 0x40)
                        let nv := mload(add(rd, D))
                        let hn := h
                        if xor(nv, ov) {
                            mstore(odd, nv)
                            hn := keccak256(0x00, 0x40)
                        }
                        mstore(wr, h)
                        mstore(add(wr, D), hn)
                        wr := add(wr, 0x20)
                        rd := add(rd, 0x20)
                    }
                    default {
                        let runEnd := add(rd, shl(5, add(sub(l, f), 1)))
                        if and(f, 1) {
                            // left edge: the sibling is the left half
                            mstore(0x00, calldataload(cur))
                            cur := add(cur, 32)
                            let ov := mload(rd)
                            mstore(0x20, ov)
                            let h := keccak256(0x00, 0x40)
                            let nv := mload(add(rd, D))
                            let hn := h
                            if xor(nv, ov) {
                                mstore(0x20, nv)
                                hn := keccak256(0x00, 0x40)
                            }
                            mstore(wr, h)
                            mstore(add(wr, D), hn)
                            wr := add(wr, 0x20)
                            rd := add(rd, 0x20)
                        }
                        // pairs inside the run, hashed where they lie
                        for { let last := sub(runEnd, 0x20) } lt(rd, last) { rd := add(rd, 0x40) } {
                            let h := keccak256(rd, 0x40)
                            let nrd := add(rd, D)
                            let hn := h
                            if or(xor(mload(nrd), mload(rd)), xor(mload(add(nrd, 0x20)), mload(add(rd, 0x20)))) {
                                hn := keccak256(nrd, 0x40)
                            }
                            mstore(wr, h)
                            mstore(add(wr, D), hn)
                            wr := add(wr, 0x20)
                        }
                        if lt(rd, runEnd) {
                            // right edge (an even index): the sibling is the right half
                            mstore(0x20, calldataload(cur))
                            cur := add(cur, 32)
                            let ov := mload(rd)
                            mstore(0x00, ov)
                            let h := keccak256(0x00, 0x40)
                            let nv := mload(add(rd, D))
                            let hn := h
                            if xor(nv, ov) {
                                mstore(0x00, nv)
                                hn := keccak256(0x00, 0x40)
                            }
                            mstore(wr, h)
                            mstore(add(wr, D), hn)
                            wr := add(wr, 0x20)
                            rd := runEnd
                        }
                    }
                    mstore(run, shr(1, f))
                    mstore(add(run, 0x20), shr(1, l))
                }
                // runs whose parents are adjacent merge (indices stay ascending and distinct)
                let out := firstRun
                for { let run := add(firstRun, 0x40) } lt(run, lastRun) { run := add(run, 0x40) } {
                    switch eq(mload(run), add(mload(add(out, 0x20)), 1))
                    case 1 { mstore(add(out, 0x20), mload(add(run, 0x20))) }
                    default {
                        out := add(out, 0x40)
                        mstore(out, mload(run))
                        mstore(add(out, 0x20), mload(add(run, 0x20)))
                    }
                }
                lastRun := add(out, 0x40)
            }
            // the first node (after 23 levels, the root; earlier, the only node left) up the remaining levels
            let x := mload(firstRun)
            let h := mload(O)
            let hn := mload(add(O, D))
            for {} lt(level, 23) { level := add(level, 1) } {
                let odd := shl(5, and(x, 1))
                mstore(xor(odd, 0x20), calldataload(cur))
                cur := add(cur, 32)
                mstore(odd, h)
                let parent := keccak256(0x00, 0x40)
                switch xor(hn, h)
                case 0 { hn := parent }
                default {
                    mstore(odd, hn)
                    hn := keccak256(0x00, 0x40)
                }
                h := parent
                x := shr(1, x)
            }
            oldRoot := h
            newRoot := hn
            o := sub(cur, p.offset)
        }
        if (o > p.length) revert MissingSibling(p.length);
        if (oldRoot != root) revert BadMemoryMultiProof(oldRoot, root);
        return (newRoot, o);
    }
}

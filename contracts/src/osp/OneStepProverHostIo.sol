// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ExecutionContext, IOneStepProver} from "./IOneStepProver.sol";
import {Machine} from "./state/Machine.sol";
import {Instructions} from "./state/Instructions.sol";
import {ValueStack} from "./state/ValueStack.sol";
import {ModuleMemory} from "./state/ModuleMemory.sol";
import {MemoryMultiProof} from "./state/MemoryMultiProof.sol";
import {ProofReader} from "./state/ProofReader.sol";

/// @notice The accumulator views of contracts/src/SequencerInbox.sol a host read is checked against.
interface ISequencerInboxAccs {
    function batchAccs(uint256 index) external view returns (bytes32);
    function batchInfo(uint256 index) external view returns (bytes32 acc, uint64 afterDelayedCount, uint64 timestamp);
    function delayedAccs(uint256 index) external view returns (bytes32);
}

/// @title OneStepProverHostIo
/// @notice The host functions of docs/protocol.md §8 as one step each (executor/vm/host.ts):
///         keccak256, ecrecover, inbox_read, delayed_read. Memory is read and written through a
///         MemoryMultiProof over the leaves the call touches; an inbox or delayed read carries the
///         whole message, checked against the SequencerInbox accumulators (docs/protocol.md §6).
contract OneStepProverHostIo is IOneStepProver {
    using ValueStack for ValueStack.Stack;

    uint256 internal constant KECCAK_MAX_LEN = 1024;
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice A host id this prover does not handle.
    error UnsupportedHost(uint32 id);
    /// @notice The message does not match the inbox accumulator.
    error BadInboxMessage(bytes32 computed, bytes32 acc);
    /// @notice The proof has bytes after the witness.
    error TrailingBytes(uint256 offset, uint256 length);

    /// @inheritdoc IOneStepProver
    function executeOneStep(
        ExecutionContext calldata ctx,
        Machine.State memory m,
        Instructions.Instruction calldata inst,
        bytes calldata w
    ) external view override returns (Machine.State memory) {
        uint32 id = inst.b;
        uint256 o;
        if (id == 2) o = keccakHost(m, w);
        else if (id == 3) o = ecrecoverHost(m, w);
        else if (id == 0 || id == 1) o = readHost(ctx, m, w, id == 1);
        else revert UnsupportedHost(id);
        if (m.status != Machine.ERRORED && o != w.length) revert TrailingBytes(o, w.length);
        return m;
    }

    function memSize(Machine.State memory m) internal pure returns (uint256) {
        return uint256(m.pages) * ModuleMemory.PAGE;
    }

    /// keccak256(ptr, len, out): len > 1024 or an access outside memory traps.
    function keccakHost(Machine.State memory m, bytes calldata w) internal pure returns (uint256 o) {
        uint256 out = uint32(m.values.pop());
        uint256 len = uint32(m.values.pop());
        uint256 ptr = uint32(m.values.pop());
        if (len > KECCAK_MAX_LEN || ptr + len > memSize(m) || out + 32 > memSize(m)) {
            Machine.trap(m);
            return 0;
        }
        MemoryMultiProof.Image memory im;
        (im, o) = MemoryMultiProof.open(w, 0, ptr, len, out, 32, 0, 0);
        bytes32 h;
        if (len > 0) {
            uint256 q = MemoryMultiProof.ptr(im, ptr);
            assembly {
                h := keccak256(q, len)
            }
        } else {
            h = keccak256("");
        }
        uint256 qo = MemoryMultiProof.ptr(im, out);
        assembly {
            mstore(qo, h)
        }
        (m.memoryRoot, o) = MemoryMultiProof.update(im, w, o, m.memoryRoot);
    }

    /// ecrecover(hash, sig, out) → ok: sig = v ‖ r ‖ s; v ∈ {27, 28}, 0 < s ≤ n/2, else 0 and no write.
    function ecrecoverHost(Machine.State memory m, bytes calldata w) internal pure returns (uint256 o) {
        uint256 out = uint32(m.values.pop());
        uint256 sig = uint32(m.values.pop());
        uint256 hp = uint32(m.values.pop());
        if (hp + 32 > memSize(m) || sig + 65 > memSize(m) || out + 20 > memSize(m)) {
            Machine.trap(m);
            return 0;
        }
        MemoryMultiProof.Image memory im;
        (im, o) = MemoryMultiProof.open(w, 0, hp, 32, sig, 65, out, 20);
        bytes32 digest;
        uint8 v;
        bytes32 r;
        bytes32 s;
        {
            uint256 qh = MemoryMultiProof.ptr(im, hp);
            uint256 qs = MemoryMultiProof.ptr(im, sig);
            assembly {
                digest := mload(qh)
                v := byte(0, mload(qs))
                r := mload(add(qs, 1))
                s := mload(add(qs, 33))
            }
        }
        address signer;
        if ((v == 27 || v == 28) && uint256(s) != 0 && uint256(s) <= HALF_N) signer = ecrecover(digest, v, r, s);
        if (signer != address(0)) {
            uint256 q = MemoryMultiProof.ptr(im, out);
            // the 20 bytes at out; the 12 after them are stored back unchanged
            assembly {
                mstore(q, or(shl(96, signer), and(mload(q), 0xffffffffffffffffffffffff)))
            }
        }
        (m.memoryRoot, o) = MemoryMultiProof.update(im, w, o, m.memoryRoot);
        m.values.push(signer != address(0) ? 1 : 0);
    }

    /// inbox_read(offset, dest, len) → n and delayed_read(index, offset, dest, len) → n.
    function readHost(ExecutionContext calldata ctx, Machine.State memory m, bytes calldata w, bool delayed)
        internal
        view
        returns (uint256 o)
    {
        uint256 len = uint32(m.values.pop());
        uint256 dest = uint32(m.values.pop());
        uint256 offset = uint32(m.values.pop());
        uint64 index = delayed ? m.values.pop() : 0;
        uint32 msgLen;
        (msgLen, o) = ProofReader.u32(w, 0);
        if (o + msgLen > w.length) revert ProofReader.ProofTooShort(o);
        bytes calldata message = w[o:o + msgLen];
        o += msgLen;
        bytes32 messageHash = keccak256(message);
        ISequencerInboxAccs inbox = ISequencerInboxAccs(ctx.sequencerInbox);
        bytes32 computed;
        bytes32 acc;
        if (delayed) {
            bytes32 prev = index == 0 ? bytes32(0) : inbox.delayedAccs(index - 1);
            computed = keccak256(abi.encodePacked(prev, messageHash));
            acc = inbox.delayedAccs(index);
        } else {
            uint64 pos = m.inboxPosition;
            uint64 afterDelayed;
            (acc, afterDelayed,) = inbox.batchInfo(pos);
            bytes32 prev = pos == 0 ? bytes32(0) : inbox.batchAccs(pos - 1);
            bytes32 d = afterDelayed == 0 ? bytes32(0) : inbox.delayedAccs(afterDelayed - 1);
            computed = keccak256(abi.encodePacked(prev, messageHash, d));
        }
        if (computed != acc) revert BadInboxMessage(computed, acc);

        uint256 n = offset >= message.length ? 0 : message.length - offset;
        if (len < n) n = len;
        if (n > 0) {
            if (dest + n > memSize(m)) {
                Machine.trap(m);
                return o;
            }
            MemoryMultiProof.Image memory im;
            (im, o) = MemoryMultiProof.open(w, o, dest, n, 0, 0, 0, 0);
            uint256 q = MemoryMultiProof.ptr(im, dest);
            uint256 src;
            assembly {
                src := add(message.offset, offset)
                calldatacopy(q, src, n)
            }
            (m.memoryRoot, o) = MemoryMultiProof.update(im, w, o, m.memoryRoot);
        }
        m.values.push(uint64(n));
    }
}

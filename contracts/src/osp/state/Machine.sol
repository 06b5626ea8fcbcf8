// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProofReader} from "./ProofReader.sol";
import {ValueStack} from "./ValueStack.sol";
import {StackFrame} from "./StackFrame.sol";

/// @title Machine
/// @notice The machine state a one-step proof reveals and its hash (docs/vm.md "Machine hash",
///         executor/vm/machineHash.ts).
library Machine {
    uint8 internal constant RUNNING = 0;
    uint8 internal constant FINISHED = 1;
    uint8 internal constant ERRORED = 2;
    uint8 internal constant READY = 3;

    struct State {
        uint8 status;
        uint32 func;
        uint32 offset;
        ValueStack.Stack values;
        StackFrame.Stack frames;
        bytes32 globalsHash;
        bytes32 memoryRoot;
        uint32 pages;
        bytes32 moduleRoot;
        bytes32 codeRoot;
        uint64 inboxPosition;
        /// Ready only: memory[OUTBOX_ROOT_PTR..+32]
        bytes32 outboxRoot;
    }

    /// @notice The proof starts with an unknown status byte.
    error BadStatus(uint8 status);

    /// @notice Parses the machine part of a proof (executor/vm/proof.ts).
    function parse(bytes calldata p) internal pure returns (State memory m, uint256 o) {
        (m.status, o) = ProofReader.u8(p, 0);
        if (m.status == ERRORED) {
            (m.moduleRoot, o) = ProofReader.b32(p, o);
            (m.codeRoot, o) = ProofReader.b32(p, o);
            (m.inboxPosition, o) = ProofReader.u64(p, o);
            return (m, o);
        }
        if (m.status == READY) {
            (m.globalsHash, o) = ProofReader.b32(p, o);
            (m.memoryRoot, o) = ProofReader.b32(p, o);
            (m.pages, o) = ProofReader.u32(p, o);
            (m.moduleRoot, o) = ProofReader.b32(p, o);
            (m.inboxPosition, o) = ProofReader.u64(p, o);
            (m.outboxRoot, o) = ProofReader.b32(p, o);
            return (m, o);
        }
        if (m.status != RUNNING && m.status != FINISHED) revert BadStatus(m.status);
        (m.func, o) = ProofReader.u32(p, o);
        (m.offset, o) = ProofReader.u32(p, o);
        (m.values, o) = ValueStack.parse(p, o);
        (m.frames, o) = StackFrame.parse(p, o);
        (m.globalsHash, o) = ProofReader.b32(p, o);
        (m.memoryRoot, o) = ProofReader.b32(p, o);
        (m.pages, o) = ProofReader.u32(p, o);
        (m.moduleRoot, o) = ProofReader.b32(p, o);
        (m.codeRoot, o) = ProofReader.b32(p, o);
        (m.inboxPosition, o) = ProofReader.u64(p, o);
    }

    /// @notice The machine hash: the state root when Ready, the short form when Errored.
    function hash(State memory m) internal pure returns (bytes32) {
        if (m.status == READY) {
            bytes32 machineRoot = keccak256(abi.encodePacked(m.globalsHash, m.memoryRoot, m.pages));
            return keccak256(abi.encodePacked(m.moduleRoot, machineRoot, m.inboxPosition, m.outboxRoot));
        }
        if (m.status == ERRORED) {
            return keccak256(abi.encodePacked(ERRORED, m.moduleRoot, m.codeRoot, m.inboxPosition));
        }
        bytes memory a = abi.encodePacked(
            m.status,
            m.func,
            m.offset,
            ValueStack.hash(m.values),
            m.values.size,
            StackFrame.hash(m.frames),
            m.frames.count,
            m.frames.localsTotal
        );
        bytes memory b = abi.encodePacked(m.globalsHash, m.memoryRoot, m.pages, m.moduleRoot, m.codeRoot, m.inboxPosition);
        return keccak256(bytes.concat(a, b));
    }

    /// @notice A trap: terminal, only the module, code and inbox position remain in the hash.
    function trap(State memory m) internal pure {
        m.status = ERRORED;
    }
}

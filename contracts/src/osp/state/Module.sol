// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ExecutionContext} from "../IOneStepProver.sol";
import {MerkleProof} from "./MerkleProof.sol";
import {ProofReader} from "./ProofReader.sol";

/// @title Module
/// @notice The module commitment of executor/vm/module.ts: moduleRoot = keccak256(codeRoot ‖
///         tableRoot ‖ tableSize u32 ‖ entryFunction u32 ‖ outboxRootPtr u32 ‖ maxMemoryPages u32).
///         It is the moduleRoot inside every state root, so the Rollup's immutable moduleRoot binds
///         every constant a prover is handed, and the function table that call_indirect reads.
library Module {
    /// @notice A table leaf's kind byte.
    uint8 internal constant ENTRY_UNINITIALIZED = 0;
    uint8 internal constant ENTRY_FUNCTION = 1;
    uint8 internal constant ENTRY_HOST = 2;

    /// @notice The ExecutionContext's module constants do not hash to the machine's moduleRoot.
    error ModuleMismatch(bytes32 computed, bytes32 expected);
    /// @notice A table entry's path does not lead to ctx.tableRoot.
    error BadTableProof();

    /// @notice One function-table entry (executor/vm/module.ts tableLeaf).
    struct TableEntry {
        uint8 kind;
        uint32 func;
        uint32 sig;
    }

    /// @notice The module root the context's constants commit to.
    function root(ExecutionContext calldata ctx) internal pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(ctx.codeRoot, ctx.tableRoot, ctx.tableSize, ctx.entryFunction, ctx.outboxRootPtr, ctx.maxMemoryPages)
        );
    }

    /// @notice Reverts unless the context belongs to the module the machine runs.
    function check(ExecutionContext calldata ctx, bytes32 moduleRoot) internal pure {
        bytes32 computed = root(ctx);
        if (computed != moduleRoot) revert ModuleMismatch(computed, moduleRoot);
    }

    /// @notice Reads table entry `index` (leaf ‖ ceil(log2 tableSize) siblings) at `o` and proves it
    ///         against ctx.tableRoot. The caller has checked index < ctx.tableSize.
    function proveEntry(ExecutionContext calldata ctx, bytes calldata p, uint256 o, uint256 index)
        internal
        pure
        returns (TableEntry memory e, uint256)
    {
        bytes32 leaf;
        (leaf, o) = ProofReader.b32(p, o);
        bytes32[] memory path;
        (path, o) = MerkleProof.readPath(p, o, MerkleProof.depthOf(ctx.tableSize));
        if (MerkleProof.rootOf(leaf, index, path) != ctx.tableRoot) revert BadTableProof();
        e.kind = uint8(uint256(leaf) >> 248);
        e.func = uint32(uint256(leaf) >> 216);
        e.sig = uint32(uint256(leaf) >> 184);
        return (e, o);
    }
}

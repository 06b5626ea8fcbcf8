// Host functions (docs/protocol.md §8). These are the only imports the VM provides.

/** Copies up to `len` bytes of the current inbox message from `offset` to `dest`; returns the count. */
@external("veridex", "inbox_read")
export declare function inbox_read(offset: u32, dest: u32, len: u32): u32;

/** Same as inbox_read for delayed message `index`. */
@external("veridex", "delayed_read")
export declare function delayed_read(index: u64, offset: u32, dest: u32, len: u32): u32;

/** keccak256(memory[ptr, ptr+len)) written at `out`; len <= 1024. */
@external("veridex", "keccak256")
export declare function keccak256(ptr: u32, len: u32, out: u32): void;

/** Recovers the signer of the 32-byte `hash` from the 65-byte v‖r‖s `sig`; writes 20 bytes at `out`. */
@external("veridex", "ecrecover")
export declare function ecrecover(hash: u32, sig: u32, out: u32): u32;

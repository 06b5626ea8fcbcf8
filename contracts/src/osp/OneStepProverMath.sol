// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ExecutionContext, IOneStepProver} from "./IOneStepProver.sol";
import {Machine} from "./state/Machine.sol";
import {Instructions} from "./state/Instructions.sol";
import {ValueStack} from "./state/ValueStack.sol";

/// @title OneStepProverMath
/// @notice i32/i64 tests, comparisons, arithmetic, bit operations and conversions (WebAssembly
///         semantics; an i32 is a zero-extended 64-bit slot).
contract OneStepProverMath is IOneStepProver {
    using ValueStack for ValueStack.Stack;

    /// @notice An opcode this prover does not handle.
    error UnsupportedOpcode(uint16 op);

    /// @inheritdoc IOneStepProver
    function executeOneStep(
        ExecutionContext calldata,
        Machine.State memory m,
        Instructions.Instruction calldata inst,
        bytes calldata
    ) external pure override returns (Machine.State memory) {
        uint16 op = inst.op;
        if (op == 0x45) {
            m.values.push(uint32(m.values.pop()) == 0 ? 1 : 0);
        } else if (op >= 0x46 && op <= 0x4f) {
            uint32 y = uint32(m.values.pop());
            uint32 x = uint32(m.values.pop());
            m.values.push(cmp32(op, x, y) ? 1 : 0);
        } else if (op == 0x50) {
            m.values.push(m.values.pop() == 0 ? 1 : 0);
        } else if (op >= 0x51 && op <= 0x5a) {
            uint64 y = m.values.pop();
            uint64 x = m.values.pop();
            m.values.push(cmp64(op, x, y) ? 1 : 0);
        } else if (op >= 0x67 && op <= 0x69) {
            uint32 x = uint32(m.values.pop());
            m.values.push(uint64(op == 0x67 ? clz(x, 32) : op == 0x68 ? ctz(x, 32) : popcnt(x)));
        } else if (op >= 0x6a && op <= 0x78) {
            uint32 y = uint32(m.values.pop());
            uint32 x = uint32(m.values.pop());
            (uint32 r, bool trapped) = bin32(op, x, y);
            if (trapped) Machine.trap(m);
            else m.values.push(r);
        } else if (op >= 0x79 && op <= 0x7b) {
            uint64 x = m.values.pop();
            m.values.push(uint64(op == 0x79 ? clz(x, 64) : op == 0x7a ? ctz(x, 64) : popcnt(x)));
        } else if (op >= 0x7c && op <= 0x8a) {
            uint64 y = m.values.pop();
            uint64 x = m.values.pop();
            (uint64 r, bool trapped) = bin64(op, x, y);
            if (trapped) Machine.trap(m);
            else m.values.push(r);
        } else if (op == 0xa7) {
            m.values.push(uint32(m.values.pop()));
        } else if (op == 0xac) {
            m.values.push(uint64(int64(int32(uint32(m.values.pop())))));
        } else if (op == 0xad) {
            m.values.push(uint32(m.values.pop()));
        } else if (op == 0xc0) {
            m.values.push(uint32(int32(int8(uint8(m.values.pop())))));
        } else if (op == 0xc1) {
            m.values.push(uint32(int32(int16(uint16(m.values.pop())))));
        } else if (op == 0xc2) {
            m.values.push(uint64(int64(int8(uint8(m.values.pop())))));
        } else if (op == 0xc3) {
            m.values.push(uint64(int64(int16(uint16(m.values.pop())))));
        } else if (op == 0xc4) {
            m.values.push(uint64(int64(int32(uint32(m.values.pop())))));
        } else {
            revert UnsupportedOpcode(op);
        }
        return m;
    }

    function cmp32(uint16 op, uint32 x, uint32 y) internal pure returns (bool) {
        int32 sx = int32(x);
        int32 sy = int32(y);
        if (op == 0x46) return x == y;
        if (op == 0x47) return x != y;
        if (op == 0x48) return sx < sy;
        if (op == 0x49) return x < y;
        if (op == 0x4a) return sx > sy;
        if (op == 0x4b) return x > y;
        if (op == 0x4c) return sx <= sy;
        if (op == 0x4d) return x <= y;
        if (op == 0x4e) return sx >= sy;
        return x >= y;
    }

    function cmp64(uint16 op, uint64 x, uint64 y) internal pure returns (bool) {
        int64 sx = int64(x);
        int64 sy = int64(y);
        if (op == 0x51) return x == y;
        if (op == 0x52) return x != y;
        if (op == 0x53) return sx < sy;
        if (op == 0x54) return x < y;
        if (op == 0x55) return sx > sy;
        if (op == 0x56) return x > y;
        if (op == 0x57) return sx <= sy;
        if (op == 0x58) return x <= y;
        if (op == 0x59) return sx >= sy;
        return x >= y;
    }

    function clz(uint256 x, uint256 bits) internal pure returns (uint256 n) {
        if (x == 0) return bits;
        uint256 top = bits;
        while (x >> (top - 1) == 0) top--;
        return bits - top;
    }

    function ctz(uint256 x, uint256 bits) internal pure returns (uint256 n) {
        if (x == 0) return bits;
        while ((x >> n) & 1 == 0) n++;
    }

    function popcnt(uint256 x) internal pure returns (uint256 n) {
        while (x != 0) {
            x &= x - 1;
            n++;
        }
    }

    function bin32(uint16 op, uint32 x, uint32 y) internal pure returns (uint32 r, bool trapped) {
        unchecked {
            uint32 k = y & 31;
            if (op == 0x6a) return (x + y, false);
            if (op == 0x6b) return (x - y, false);
            if (op == 0x6c) return (x * y, false);
            if (op >= 0x6d && op <= 0x70) {
                if (y == 0) return (0, true);
                if (op == 0x6d) {
                    if (x == 0x80000000 && y == 0xffffffff) return (0, true);
                    return (uint32(int32(x) / int32(y)), false);
                }
                if (op == 0x6e) return (x / y, false);
                if (op == 0x6f) return (y == 0xffffffff ? 0 : uint32(int32(x) % int32(y)), false);
                return (x % y, false);
            }
            if (op == 0x71) return (x & y, false);
            if (op == 0x72) return (x | y, false);
            if (op == 0x73) return (x ^ y, false);
            if (op == 0x74) return (x << k, false);
            if (op == 0x75) return (uint32(int32(x) >> k), false);
            if (op == 0x76) return (x >> k, false);
            if (op == 0x77) return ((x << k) | (x >> (k == 0 ? 32 : 32 - k)), false);
            return ((x >> k) | (x << (k == 0 ? 32 : 32 - k)), false);
        }
    }

    function bin64(uint16 op, uint64 x, uint64 y) internal pure returns (uint64 r, bool trapped) {
        unchecked {
            uint64 k = y & 63;
            if (op == 0x7c) return (x + y, false);
            if (op == 0x7d) return (x - y, false);
            if (op == 0x7e) return (x * y, false);
            if (op >= 0x7f && op <= 0x82) {
                if (y == 0) return (0, true);
                if (op == 0x7f) {
                    if (x == 0x8000000000000000 && y == 0xffffffffffffffff) return (0, true);
                    return (uint64(int64(x) / int64(y)), false);
                }
                if (op == 0x80) return (x / y, false);
                if (op == 0x81) return (y == 0xffffffffffffffff ? 0 : uint64(int64(x) % int64(y)), false);
                return (x % y, false);
            }
            if (op == 0x83) return (x & y, false);
            if (op == 0x84) return (x | y, false);
            if (op == 0x85) return (x ^ y, false);
            if (op == 0x86) return (x << k, false);
            if (op == 0x87) return (uint64(int64(x) >> k), false);
            if (op == 0x88) return (x >> k, false);
            if (op == 0x89) return ((x << k) | (x >> (k == 0 ? 64 : 64 - k)), false);
            return ((x >> k) | (x << (k == 0 ? 64 : 64 - k)), false);
        }
    }
}

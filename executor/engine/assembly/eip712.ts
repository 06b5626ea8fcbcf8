// EIP-712 signing (docs/protocol.md §2): typehashes, the domain separator and item digests.
// The typehashes are keccak256 of the type strings, precomputed (test/engine.test.ts checks
// them, and whole digests, against viem).

import { ecrecover, keccak256 } from "./env";
import {
  C_DOMAIN, CFG, HBUF, HOUT, MARKET_CONFIG_LEN, OPT_BUY, OPT_EXPIRY, OPT_POST_ONLY, OPT_REDUCE_ONLY,
  OPT_TIF_SHIFT, OPT_TYPE_SHIFT, OT_STOP, SIGNER, T_ADMIN, T_CANCEL, T_CANCEL_ALL, T_ORACLE, T_ORDER,
  T_REPLACE, T_TRANSFER, T_WITHDRAW, be32, be64, copy32, putAddressWord, putWord, u8at,
} from "./layout";

/** keccak256("Order(uint32 market,bool isBuy,uint64 price,uint64 size,uint8 orderType,uint8 timeInForce,bool postOnly,bool reduceOnly,uint64 triggerPrice,uint64 expiry,uint64 nonce)") */
const TH_ORDER: u32 = <u32>memory.data<u8>([0xe0, 0x48, 0x45, 0x8c, 0x96, 0xb1, 0x51, 0xe8, 0x15, 0x5d, 0x02, 0x77, 0xef, 0x39, 0xea, 0x6d, 0x8d, 0xf0, 0xc2, 0x1f, 0x8c, 0xb8, 0x5f, 0x2f, 0x23, 0x6e, 0xf9, 0x0a, 0xf1, 0x81, 0xd5, 0x09]);
/** keccak256("CancelAll(uint32 market,uint64 nonce)") */
const TH_CANCEL_ALL: u32 = <u32>memory.data<u8>([0x68, 0xf4, 0xe6, 0x00, 0xaf, 0x76, 0x1e, 0xaf, 0xcf, 0xde, 0x53, 0x6d, 0x95, 0x35, 0xc3, 0xba, 0x8f, 0xab, 0x25, 0x61, 0xd3, 0xc4, 0x0e, 0xed, 0x2c, 0x71, 0x92, 0x0c, 0xd5, 0xd6, 0xb5, 0x3d]);
/** keccak256("Replace(uint64 orderId,uint64 price,uint64 size,uint64 nonce)") */
const TH_REPLACE: u32 = <u32>memory.data<u8>([0x70, 0x13, 0x31, 0x65, 0x11, 0x5b, 0x89, 0xea, 0xda, 0xd9, 0x8f, 0x99, 0x84, 0x1b, 0x98, 0xc3, 0x09, 0x46, 0x40, 0x08, 0x54, 0xab, 0xe3, 0xdc, 0x82, 0x9f, 0x84, 0xad, 0x3a, 0xb9, 0x0b, 0x07]);
/** keccak256("AdminAction(uint8 action,bytes config,uint64 nonce)") */
const TH_ADMIN: u32 = <u32>memory.data<u8>([0x63, 0xc3, 0x13, 0xd0, 0xde, 0x83, 0xd7, 0x70, 0x81, 0x43, 0xd7, 0xb1, 0xa0, 0x61, 0x32, 0xd9, 0xce, 0x8b, 0xd7, 0xe8, 0x00, 0x90, 0x7c, 0x70, 0x16, 0x21, 0x16, 0x49, 0x89, 0x29, 0xa8, 0xa7]);
/** keccak256("Cancel(uint64 orderId,uint64 nonce)") */
const TH_CANCEL: u32 = <u32>memory.data<u8>([0x89, 0x59, 0x97, 0xf0, 0x39, 0x47, 0x78, 0xe4, 0x42, 0x36, 0x93, 0xd1, 0x3e, 0x6e, 0x8d, 0x87, 0xdf, 0xa2, 0xe5, 0x1c, 0xfc, 0xed, 0xd6, 0xdf, 0x6b, 0x57, 0xc8, 0xfa, 0x38, 0x9c, 0x4b, 0x33]);
/** keccak256("Transfer(address to,uint32 asset,uint64 amount,uint64 nonce)") */
const TH_TRANSFER: u32 = <u32>memory.data<u8>([0x98, 0xad, 0x86, 0x0a, 0xeb, 0x53, 0x9a, 0xed, 0xd4, 0x34, 0xec, 0x85, 0x60, 0x79, 0xba, 0x1a, 0xbc, 0xeb, 0x62, 0x22, 0x1c, 0xc0, 0x80, 0xdc, 0xc8, 0x41, 0xa6, 0x45, 0x77, 0xfb, 0x98, 0xaf]);
/** keccak256("Withdraw(address to,uint32 asset,uint64 amount,uint64 nonce)") */
const TH_WITHDRAW: u32 = <u32>memory.data<u8>([0xe0, 0x2c, 0x4c, 0xcb, 0x25, 0xb9, 0xd8, 0xd2, 0x06, 0x97, 0xb6, 0x85, 0xd2, 0x83, 0x8d, 0xbb, 0x14, 0xb9, 0x19, 0xcb, 0xa0, 0xff, 0xe1, 0x65, 0x73, 0xa6, 0x89, 0xc7, 0x41, 0x1e, 0x97, 0x1c]);
/** keccak256("OraclePrice(uint32 market,uint64 price,uint64 timestamp)") */
const TH_ORACLE: u32 = <u32>memory.data<u8>([0x7c, 0xb3, 0xc6, 0xe7, 0xb8, 0xab, 0x4a, 0xbf, 0xa1, 0xc3, 0xe3, 0x6b, 0x13, 0x73, 0x1c, 0xc7, 0x3e, 0x42, 0xa3, 0x2c, 0x18, 0xfc, 0x49, 0xe3, 0x36, 0x48, 0xd3, 0x76, 0x11, 0xf6, 0xb1, 0x77]);
/** keccak256("EIP712Domain(string name,string version,uint256 chainId)") */
const TH_DOMAIN: u32 = <u32>memory.data<u8>([0xc2, 0xf8, 0x78, 0x71, 0x76, 0xb8, 0xac, 0x6b, 0xf7, 0x21, 0x5b, 0x4a, 0xdc, 0xc1, 0xe0, 0x69, 0xbf, 0x4a, 0xb8, 0x2d, 0x9a, 0xb1, 0xdf, 0x05, 0xa5, 0x7a, 0x91, 0xd4, 0x25, 0x93, 0x5b, 0x6e]);
const NAME: u32 = <u32>memory.data<u8>([0x56, 0x65, 0x72, 0x69, 0x64, 0x65, 0x78]); // "Veridex"
const VERSION: u32 = <u32>memory.data<u8>([0x31]); // "1"

/** The typehash of an item type (0 for other types). */
export function typehash(t: u32): u32 {
  switch (t) {
    case T_ORDER: return TH_ORDER;
    case T_CANCEL: return TH_CANCEL;
    case T_TRANSFER: return TH_TRANSFER;
    case T_WITHDRAW: return TH_WITHDRAW;
    case T_ORACLE: return TH_ORACLE;
    case T_CANCEL_ALL: return TH_CANCEL_ALL;
    case T_REPLACE: return TH_REPLACE;
    case T_ADMIN: return TH_ADMIN;
  }
  return 0;
}

export function domainTypehash(): u32 { return TH_DOMAIN; }

/** domainSeparator = keccak(typehash ‖ keccak("Veridex") ‖ keccak("1") ‖ chainId) -> CFG. */
export function initDomain(chainId: u64): void {
  copy32(HBUF, TH_DOMAIN);
  keccak256(NAME, 7, HBUF + 32);
  keccak256(VERSION, 1, HBUF + 64);
  putWord(HBUF + 96, chainId);
  keccak256(HBUF, 128, CFG + C_DOMAIN);
}

/**
 * EIP-712 digest of the item of type `t` whose fields (after the type byte) start at `f`:
 * keccak(0x1901 ‖ domainSeparator ‖ hashStruct) -> HOUT.
 */
export function itemDigest(t: u32, f: u32): void {
  copy32(HBUF, typehash(t));
  let words: u32 = 0;
  switch (t) {
    case T_ORDER: {
      // The wire packs the options into one byte and omits a zero trigger or expiry; the signed
      // struct spells every field out (docs/protocol.md §2-§3).
      const opts = <u64>u8at(f + 4);
      const ot = (opts >> OPT_TYPE_SHIFT) & 3;
      let q = f + 21;
      let trigger: u64 = 0;
      let expiry: u64 = 0;
      if (ot >= OT_STOP) { trigger = be64(q); q += 8; }
      if ((opts & OPT_EXPIRY) != 0) { expiry = be64(q); q += 8; }
      putWord(HBUF + 32, <u64>be32(f));
      putWord(HBUF + 64, opts & OPT_BUY);
      putWord(HBUF + 96, be64(f + 5));
      putWord(HBUF + 128, be64(f + 13));
      putWord(HBUF + 160, ot);
      putWord(HBUF + 192, (opts >> OPT_TIF_SHIFT) & 3);
      putWord(HBUF + 224, (opts & OPT_POST_ONLY) != 0 ? 1 : 0);
      putWord(HBUF + 256, (opts & OPT_REDUCE_ONLY) != 0 ? 1 : 0);
      putWord(HBUF + 288, trigger);
      putWord(HBUF + 320, expiry);
      putWord(HBUF + 352, be64(q));
      words = 12;
      break;
    }
    case T_CANCEL_ALL: {
      putWord(HBUF + 32, <u64>be32(f));
      putWord(HBUF + 64, be64(f + 4));
      words = 3;
      break;
    }
    case T_REPLACE: {
      putWord(HBUF + 32, be64(f));
      putWord(HBUF + 64, be64(f + 8));
      putWord(HBUF + 96, be64(f + 16));
      putWord(HBUF + 128, be64(f + 24));
      words = 5;
      break;
    }
    case T_ADMIN: {
      putWord(HBUF + 32, <u64>u8at(f));
      keccak256(f + 1, MARKET_CONFIG_LEN, HBUF + 64);
      putWord(HBUF + 96, be64(f + 1 + MARKET_CONFIG_LEN));
      words = 4;
      break;
    }
    case T_CANCEL: {
      putWord(HBUF + 32, be64(f));
      putWord(HBUF + 64, be64(f + 8));
      words = 3;
      break;
    }
    case T_TRANSFER:
    case T_WITHDRAW: {
      putAddressWord(HBUF + 32, f);
      putWord(HBUF + 64, <u64>be32(f + 20));
      putWord(HBUF + 96, be64(f + 24));
      putWord(HBUF + 128, be64(f + 32));
      words = 5;
      break;
    }
    case T_ORACLE: {
      putWord(HBUF + 32, <u64>be32(f));
      putWord(HBUF + 64, be64(f + 4));
      putWord(HBUF + 96, be64(f + 12));
      words = 4;
      break;
    }
  }
  keccak256(HBUF, words * 32, HOUT);
  store<u8>(HBUF, 0x19);
  store<u8>(HBUF + 1, 0x01);
  copy32(HBUF + 2, CFG + C_DOMAIN);
  copy32(HBUF + 34, HOUT);
  keccak256(HBUF, 66, HOUT);
}

/** Recovers the signer of a signed item into SIGNER; false if the signature is invalid. */
export function recoverSigner(t: u32, f: u32, sig: u32): bool {
  itemDigest(t, f);
  return ecrecover(HOUT, sig, SIGNER) == 1;
}

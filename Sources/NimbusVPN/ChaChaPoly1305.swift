// ChaCha20-Poly1305 (RFC 8439) written here, in place over caller-owned memory, for WireGuard transport
// packets.
//
// Why it exists: swift-crypto's `ChaChaPoly` (used by `WireGuardAEAD`) allocates several `Data` objects
// and a sealed box per call and goes through a generic `DataProtocol` API; on the per-packet path that
// costs about a microsecond per packet before any cryptography is done. This implementation works on the
// packet's own bytes: no heap allocation, no copies, keystream XORed into the buffer in place.
//
// Design:
// - ChaCha20 computes four 64-byte blocks at once, one block per lane of `SIMD4<UInt32>` (lane i has block
//   counter c + i). Block 0 of the first batch is the Poly1305 one-time key; blocks 1… encrypt the message.
// - Poly1305 uses two 64-bit limbs plus a small top limb (the "base 2^64" layout of OpenSSL's scalar code),
//   with 64×64→128-bit products through `UInt128`, and a partial reduction modulo 2^130 − 5 per block.
// - The AEAD MAC input is aad ‖ pad16 ‖ ciphertext ‖ pad16 ‖ len(aad) ‖ len(ciphertext); because every
//   piece is padded to 16 bytes, every Poly1305 block of it is a full block (high bit 2^128 set).
// - Poly1305 runs inside ChaCha20's round loop, one block per round, so the scalar multiplies overlap the
//   vector rounds (OpenSSL "stitches" AES-GCM the same way); run one after the other, the MAC cost about a
//   quarter of a 1.4 KB packet's time. Seal MACs ciphertext earlier batches wrote; open MACs the input.
// - `open` keeps the keystream in a 2 KB stack scratch and XORs it in only when the tag is right, so a
//   forged packet leaves the buffer untouched (messages past the scratch: MAC first, then decrypt). The
//   tag comparison is constant time. The price: a forged packet costs the keystream as well as the MAC.
//
// Assumes a little-endian host (x86_64, arm64): keystream words are XORed onto memory as native integers.

#if _endian(big)
#error("InPlaceChaChaPoly assumes a little-endian host")
#endif

/// ChaCha20-Poly1305 (RFC 8439) over caller-owned memory: no allocation, no copies.
///
/// It exists so that the WireGuard transport path can seal and open packets without swift-crypto's
/// per-call `Data` allocations and generic-API overhead. It produces exactly the same ciphertext and tag as
/// swift-crypto's `ChaChaPoly` with `WireGuardAEAD.nonce(counter)` and no associated data.
public struct InPlaceChaChaPoly: Sendable {
    typealias V = SIMD4<UInt32>
    /// Four consecutive 64-byte keystream blocks, in memory order (256 bytes).
    typealias Batch = (V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V)

    // The key as eight little-endian words.
    let k0, k1, k2, k3, k4, k5, k6, k7: UInt32

    /// `key` is 32 bytes.
    public init(key: UnsafeRawBufferPointer) {
        precondition(key.count == 32, "ChaCha20-Poly1305 keys are 32 bytes")
        func w(_ i: Int) -> UInt32 { UInt32(littleEndian: key.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) }
        k0 = w(0); k1 = w(1); k2 = w(2); k3 = w(3); k4 = w(4); k5 = w(5); k6 = w(6); k7 = w(7)
    }

    /// Encrypts `buffer` in place with the 96-bit nonce 0x00000000 ‖ little-endian `counter` (WireGuard's
    /// transport nonce) and empty associated data, and writes the 16-byte tag to `tag`.
    public func seal(_ buffer: UnsafeMutableRawBufferPointer, counter: UInt64, tag: UnsafeMutableRawPointer) {
        sealWords(buffer, 0, UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32),
                  aad: UnsafeRawBufferPointer(start: nil, count: 0), tag: tag)
    }

    /// Checks `tag` over `buffer` (ciphertext) and, only if it is right, decrypts `buffer` in place.
    /// Returns false (buffer untouched) when the tag is wrong. Constant-time tag comparison.
    public func open(_ buffer: UnsafeMutableRawBufferPointer, counter: UInt64, tag: UnsafeRawPointer) -> Bool {
        openWords(buffer, 0, UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32),
                  aad: UnsafeRawBufferPointer(start: nil, count: 0), tag: tag)
    }

    /// General RFC 8439 seal: 12-byte `nonce`, associated data `aad`. Used by the test vectors.
    func seal(_ buffer: UnsafeMutableRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
              tag: UnsafeMutableRawPointer) {
        let (n0, n1, n2) = Self.nonceWords(nonce)
        sealWords(buffer, n0, n1, n2, aad: aad, tag: tag)
    }

    /// General RFC 8439 open: 12-byte `nonce`, associated data `aad`. Used by the test vectors.
    func open(_ buffer: UnsafeMutableRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
              tag: UnsafeRawPointer) -> Bool {
        let (n0, n1, n2) = Self.nonceWords(nonce)
        return openWords(buffer, n0, n1, n2, aad: aad, tag: tag)
    }

    /// Raw ChaCha20 (RFC 8439 §2.4) with the block counter starting at 1, as the AEAD uses it. For the test vectors.
    func chacha20(_ buffer: UnsafeMutableRawBufferPointer, nonce: UnsafeRawBufferPointer) {
        let (n0, n1, n2) = Self.nonceWords(nonce)
        xorKeystream(buffer, first: keystream4(counter: 0, n0, n1, n2), n0, n1, n2)
    }

    static func nonceWords(_ nonce: UnsafeRawBufferPointer) -> (UInt32, UInt32, UInt32) {
        precondition(nonce.count == 12, "ChaCha20-Poly1305 nonces are 12 bytes")
        func w(_ i: Int) -> UInt32 { UInt32(littleEndian: nonce.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) }
        return (w(0), w(1), w(2))
    }

    // MARK: AEAD

    @inline(__always)
    func sealWords(_ buffer: UnsafeMutableRawBufferPointer, _ n0: UInt32, _ n1: UInt32, _ n2: UInt32,
                   aad: UnsafeRawBufferPointer, tag: UnsafeMutableRawPointer) {
        // Up to 192 bytes the first batch is all the keystream: there is no later batch to MAC alongside.
        if buffer.count > 192, let base = buffer.baseAddress {
            return sealOnePass(base, buffer.count, n0, n1, n2, aad: aad, tag: tag)
        }
        let first = keystream4(counter: 0, n0, n1, n2)
        xorKeystream(buffer, first: first, n0, n1, n2)
        let (t0, t1) = mac(first, aad: aad, ciphertext: UnsafeRawBufferPointer(buffer))
        tag.storeBytes(of: t0.littleEndian, as: UInt64.self)
        tag.storeBytes(of: t1.littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    /// Seal for more than 192 bytes in one pass: while ChaCha20 computes a batch, Poly1305 absorbs
    /// ciphertext the previous batches wrote. The rounds are vector work and the MAC scalar multiplies, so
    /// the core runs both at once. Out of line: inlined next to the short path, both measured slower.
    @inline(never)
    func sealOnePass(_ base: UnsafeMutableRawPointer, _ count: Int, _ n0: UInt32, _ n1: UInt32, _ n2: UInt32,
                     aad: UnsafeRawBufferPointer, tag: UnsafeMutableRawPointer) {
        var first = keystream4(counter: 0, n0, n1, n2)
        var poly = Poly1305(r: first.0, s: first.1)
        if let a = aad.baseAddress { poly.updatePadded(a, count: aad.count) }
        withUnsafeBytes(of: &first) { Self.xor(base, $0.baseAddress! + 64, 192) }
        var done = 192, macked = 0
        var counter: UInt32 = 4
        while done < count {
            let blocks = min((done - macked) / 16, 20)
            let source = UnsafeRawPointer(base + macked)
            var b = keystream4(counter: counter, n0, n1, n2) { poly.block(source, $0, below: blocks) }
            macked += blocks * 16
            if count - done >= 256 {
                Self.xor256(base + done, b)
            } else {
                let rest = count - done
                withUnsafeBytes(of: &b) { Self.xor(base + done, $0.baseAddress!, rest) }
            }
            done += 256
            counter &+= 4
        }
        // The last batch's ciphertext: no ChaCha20 work left to overlap it with.
        poly.updatePadded(base + macked, count: count - macked)
        poly.block(UInt64(aad.count), UInt64(count), hibit: 1)
        let (t0, t1) = poly.finish()
        tag.storeBytes(of: t0.littleEndian, as: UInt64.self)
        tag.storeBytes(of: t1.littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    /// Longest message `open` takes in one pass: the two scratch areas hold 2048 bytes of batches, block 0
    /// (the MAC key) included. Longer messages take two (MAC, then decrypt).
    static let onePassOpenLimit = 2048 - 64

    @inline(__always)
    func openWords(_ buffer: UnsafeMutableRawBufferPointer, _ n0: UInt32, _ n1: UInt32, _ n2: UInt32,
                   aad: UnsafeRawBufferPointer, tag: UnsafeRawPointer) -> Bool {
        if buffer.count <= Self.onePassOpenLimit, let base = buffer.baseAddress {
            return openOnePass(base, buffer.count, n0, n1, n2, aad: aad, tag: tag)
        }
        let first = keystream4(counter: 0, n0, n1, n2)
        let (t0, t1) = mac(first, aad: aad, ciphertext: UnsafeRawBufferPointer(buffer))
        let e0 = UInt64(littleEndian: tag.loadUnaligned(as: UInt64.self))
        let e1 = UInt64(littleEndian: tag.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        // Constant time: no branch until every bit has been compared.
        guard (t0 ^ e0) | (t1 ^ e1) == 0 else { return false }
        xorKeystream(buffer, first: first, n0, n1, n2)
        return true
    }

    /// Open for up to `onePassOpenLimit` bytes in one pass: each batch of keystream is computed while
    /// Poly1305 absorbs a share of the ciphertext, and is kept on the stack rather than XORed, because the
    /// buffer must stay as it was if the tag is wrong. Short messages take this path too (no batch after
    /// the first): the two-pass code next to it measured slower for them. Out of line, as `sealOnePass`.
    @inline(never)
    func openOnePass(_ base: UnsafeMutableRawPointer, _ count: Int, _ n0: UInt32, _ n1: UInt32, _ n2: UInt32,
                     aad: UnsafeRawBufferPointer, tag: UnsafeRawPointer) -> Bool {
        let first = keystream4(counter: 0, n0, n1, n2)
        var poly = Poly1305(r: first.0, s: first.1)
        if let a = aad.baseAddress { poly.updatePadded(a, count: aad.count) }
        // Two areas of 1024 bytes, not one of 2048: up to 1024 bytes a temporary allocation is on the stack
        // unconditionally, above that the runtime is asked first (tens of nanoseconds on Linux).
        return withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 16) { low in
            withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 16) { high in
                // Batch k (blocks 4k…4k + 3) is kept at slot k.
                @inline(__always) func slot(_ k: Int) -> UnsafeMutableRawPointer {
                    k < 4 ? low.baseAddress! + k * 256 : high.baseAddress! + (k - 4) * 256
                }
                slot(0).storeBytes(of: first, as: Batch.self)
                let fullBlocks = count / 16
                var macked = 0, k = 1
                var batchesLeft = (count + 63) / 256  // after the first: ⌈(count − 192) / 256⌉
                while batchesLeft > 0 {
                    // An even share of the MAC per batch (at most one block per round); a partial last
                    // block waits for its zero pad below.
                    let n = min((fullBlocks - macked / 16 + batchesLeft - 1) / batchesLeft, 20)
                    let source = UnsafeRawPointer(base + macked)
                    let b = keystream4(counter: UInt32(truncatingIfNeeded: k * 4), n0, n1, n2) {
                        poly.block(source, $0, below: n)
                    }
                    slot(k).storeBytes(of: b, as: Batch.self)
                    macked += n * 16
                    k += 1
                    batchesLeft -= 1
                }
                poly.updatePadded(base + macked, count: count - macked)
                poly.block(UInt64(aad.count), UInt64(count), hibit: 1)
                let (t0, t1) = poly.finish()
                let e0 = UInt64(littleEndian: tag.loadUnaligned(as: UInt64.self))
                let e1 = UInt64(littleEndian: tag.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                // Constant time: no branch until every bit has been compared.
                guard (t0 ^ e0) | (t1 ^ e1) == 0 else { return false }
                let lowBytes = min(count, 1024 - 64)
                Self.xor(base, UnsafeRawPointer(low.baseAddress! + 64), lowBytes)
                if count > lowBytes { Self.xor(base + lowBytes, UnsafeRawPointer(high.baseAddress!), count - lowBytes) }
                return true
            }
        }
    }

    /// Poly1305 over aad ‖ pad16 ‖ ciphertext ‖ pad16 ‖ le64(aad.count) ‖ le64(ciphertext.count), keyed by
    /// the first 32 bytes of keystream block 0 (`first.0`, `first.1`).
    @inline(__always)
    func mac(_ first: Batch, aad: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        var poly = Poly1305(r: first.0, s: first.1)
        if let base = aad.baseAddress { poly.updatePadded(base, count: aad.count) }
        if let base = ciphertext.baseAddress { poly.updatePadded(base, count: ciphertext.count) }
        poly.block(UInt64(aad.count), UInt64(ciphertext.count), hibit: 1)
        return poly.finish()
    }

    /// XORs the keystream from block 1 on into `buffer`. `first` is the batch for blocks 0…3.
    @inline(__always)
    func xorKeystream(_ buffer: UnsafeMutableRawBufferPointer, first: Batch, _ n0: UInt32, _ n1: UInt32, _ n2: UInt32) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        // Blocks 1…3 of the first batch: up to 192 bytes.
        var ks = first
        let head = min(count, 192)
        withUnsafeBytes(of: &ks) { Self.xor(base, $0.baseAddress! + 64, head) }
        var done = head
        var counter: UInt32 = 4
        while count - done >= 256 {
            let b = keystream4(counter: counter, n0, n1, n2)
            Self.xor256(base + done, b)
            done += 256
            counter &+= 4
        }
        if done < count {
            ks = keystream4(counter: counter, n0, n1, n2)
            let rest = count - done
            withUnsafeBytes(of: &ks) { Self.xor(base + done, $0.baseAddress!, rest) }
        }
    }

    /// dst[0..<count] ^= ks[0..<count], 16, then 8, then 1 byte at a time.
    @inline(__always)
    static func xor(_ dst: UnsafeMutableRawPointer, _ ks: UnsafeRawPointer, _ count: Int) {
        var i = 0
        while i + 16 <= count {
            let a = dst.loadUnaligned(fromByteOffset: i, as: V.self)
            let b = ks.loadUnaligned(fromByteOffset: i, as: V.self)
            dst.storeBytes(of: a ^ b, toByteOffset: i, as: V.self)
            i += 16
        }
        if i + 8 <= count {
            let a = dst.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let b = ks.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            dst.storeBytes(of: a ^ b, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < count {
            let a = dst.load(fromByteOffset: i, as: UInt8.self)
            let b = ks.load(fromByteOffset: i, as: UInt8.self)
            dst.storeBytes(of: a ^ b, toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }

    /// dst[0..<256] ^= b, straight from registers.
    @inline(__always)
    static func xor256(_ dst: UnsafeMutableRawPointer, _ b: Batch) {
        @inline(__always) func x(_ i: Int, _ v: V) {
            dst.storeBytes(of: dst.loadUnaligned(fromByteOffset: i * 16, as: V.self) ^ v, toByteOffset: i * 16, as: V.self)
        }
        x(0, b.0); x(1, b.1); x(2, b.2); x(3, b.3); x(4, b.4); x(5, b.5); x(6, b.6); x(7, b.7)
        x(8, b.8); x(9, b.9); x(10, b.10); x(11, b.11); x(12, b.12); x(13, b.13); x(14, b.14); x(15, b.15)
    }

    // MARK: ChaCha20

    /// Rotate left by a constant. Written as a multiply and an XOR on purpose: the stdlib's SIMD shifts are
    /// lane loops, and `(x << n) | (x >> (32 - n))` is recognised per lane as a scalar rotate, so LLVM
    /// unpacks the vector into four `rol`s (about 3× slower here). This form stays in SSE2/NEON registers
    /// (the multiply by 2^n becomes a vector shift).
    @inline(__always)
    static func rotl(_ x: V, _ n: UInt32) -> V { (x &* V(repeating: 1 &<< n)) ^ (x &>> (32 &- n)) }

    @inline(__always)
    static func quarterRound(_ a: inout V, _ b: inout V, _ c: inout V, _ d: inout V) {
        a &+= b; d = rotl(d ^ a, 16)
        c &+= d; b = rotl(b ^ c, 12)
        a &+= b; d = rotl(d ^ a, 8)
        c &+= d; b = rotl(b ^ c, 7)
    }

    /// ChaCha20 blocks `counter` … `counter + 3` (one per lane), serialized in block order.
    @inline(__always)
    func keystream4(counter: UInt32, _ n0: UInt32, _ n1: UInt32, _ n2: UInt32) -> Batch {
        keystream4(counter: counter, n0, n1, n2) { _ in }
    }

    /// `keystream4`, calling `alongside(i)` after each of the twenty rounds (i = 0…19). Scalar work placed
    /// there runs in the gaps the vector rounds leave. The same work before or after the batch mostly does
    /// not overlap (the vector ops fill the scheduler and stall what queues behind them); two blocks per
    /// double round instead of one per round measured about 60% of the gain.
    @inline(__always)
    func keystream4(counter: UInt32, _ n0: UInt32, _ n1: UInt32, _ n2: UInt32, alongside: (Int) -> Void) -> Batch {
        let c0 = V(repeating: 0x6170_7865), c1 = V(repeating: 0x3320_646E)
        let c2 = V(repeating: 0x7962_2D32), c3 = V(repeating: 0x6B20_6574)
        let i4 = V(repeating: k0), i5 = V(repeating: k1), i6 = V(repeating: k2), i7 = V(repeating: k3)
        let i8 = V(repeating: k4), i9 = V(repeating: k5), i10 = V(repeating: k6), i11 = V(repeating: k7)
        let i12 = V(repeating: counter) &+ V(0, 1, 2, 3)
        let i13 = V(repeating: n0), i14 = V(repeating: n1), i15 = V(repeating: n2)
        var x0 = c0, x1 = c1, x2 = c2, x3 = c3, x4 = i4, x5 = i5, x6 = i6, x7 = i7
        var x8 = i8, x9 = i9, x10 = i10, x11 = i11, x12 = i12, x13 = i13, x14 = i14, x15 = i15
        for i in 0..<10 {
            Self.quarterRound(&x0, &x4, &x8, &x12); Self.quarterRound(&x1, &x5, &x9, &x13)
            Self.quarterRound(&x2, &x6, &x10, &x14); Self.quarterRound(&x3, &x7, &x11, &x15)
            alongside(2 * i)
            Self.quarterRound(&x0, &x5, &x10, &x15); Self.quarterRound(&x1, &x6, &x11, &x12)
            Self.quarterRound(&x2, &x7, &x8, &x13); Self.quarterRound(&x3, &x4, &x9, &x14)
            alongside(2 * i + 1)
        }
        x0 &+= c0; x1 &+= c1; x2 &+= c2; x3 &+= c3; x4 &+= i4; x5 &+= i5; x6 &+= i6; x7 &+= i7
        x8 &+= i8; x9 &+= i9; x10 &+= i10; x11 &+= i11; x12 &+= i12; x13 &+= i13; x14 &+= i14; x15 &+= i15
        // Transpose: lane j of word i is word i of block j.
        return (V(x0[0], x1[0], x2[0], x3[0]), V(x4[0], x5[0], x6[0], x7[0]),
                V(x8[0], x9[0], x10[0], x11[0]), V(x12[0], x13[0], x14[0], x15[0]),
                V(x0[1], x1[1], x2[1], x3[1]), V(x4[1], x5[1], x6[1], x7[1]),
                V(x8[1], x9[1], x10[1], x11[1]), V(x12[1], x13[1], x14[1], x15[1]),
                V(x0[2], x1[2], x2[2], x3[2]), V(x4[2], x5[2], x6[2], x7[2]),
                V(x8[2], x9[2], x10[2], x11[2]), V(x12[2], x13[2], x14[2], x15[2]),
                V(x0[3], x1[3], x2[3], x3[3]), V(x4[3], x5[3], x6[3], x7[3]),
                V(x8[3], x9[3], x10[3], x11[3]), V(x12[3], x13[3], x14[3], x15[3]))
    }
}

/// Poly1305 (RFC 8439 §2.5) with 64-bit limbs: h = h0 + h1·2^64 + h2·2^128, kept partially reduced
/// modulo 2^130 − 5 (h2 stays small). Products are 64×64→128 bits.
struct Poly1305 {
    var h0: UInt64 = 0, h1: UInt64 = 0, h2: UInt64 = 0
    let r0: UInt64, r1: UInt64, s1: UInt64
    let pad0: UInt64, pad1: UInt64

    /// `r` and `s` are the two 16-byte halves of the one-time key, as little-endian words.
    @inline(__always)
    init(r: SIMD4<UInt32>, s: SIMD4<UInt32>) {
        r0 = (UInt64(r[0]) | UInt64(r[1]) << 32) & 0x0FFF_FFFC_0FFF_FFFF
        r1 = (UInt64(r[2]) | UInt64(r[3]) << 32) & 0x0FFF_FFFC_0FFF_FFFC
        s1 = r1 &+ (r1 >> 2)  // r1·5/4: r1 is a multiple of 4, and 2^130 ≡ 5
        pad0 = UInt64(s[0]) | UInt64(s[1]) << 32
        pad1 = UInt64(s[2]) | UInt64(s[3]) << 32
    }

    /// Keyed by 32 bytes (r ‖ s).
    init(key: UnsafeRawBufferPointer) {
        precondition(key.count == 32)
        self.init(r: key.loadUnaligned(as: SIMD4<UInt32>.self), s: key.loadUnaligned(fromByteOffset: 16, as: SIMD4<UInt32>.self))
    }

    /// h = (h + m + hibit·2^128) · r, partially reduced.
    @inline(__always)
    mutating func block(_ m0: UInt64, _ m1: UInt64, hibit: UInt64) {
        var c: Bool
        (h0, c) = h0.addingReportingOverflow(m0)
        let t1 = UInt128(h1) &+ UInt128(m1) &+ (c ? 1 : 0)
        h1 = UInt64(truncatingIfNeeded: t1)
        h2 = h2 &+ UInt64(truncatingIfNeeded: t1 >> 64) &+ hibit

        let d0 = UInt128(h0) &* UInt128(r0) &+ UInt128(h1) &* UInt128(s1)
        let d1 = UInt128(h0) &* UInt128(r1) &+ UInt128(h1) &* UInt128(r0) &+ UInt128(h2 &* s1) &+ (d0 >> 64)
        let d2 = h2 &* r0 &+ UInt64(truncatingIfNeeded: d1 >> 64)
        h0 = UInt64(truncatingIfNeeded: d0)
        h1 = UInt64(truncatingIfNeeded: d1)
        // Fold the bits at and above 2^130 back in: x·2^130 ≡ 5x.
        let fold = (d2 >> 2) &+ (d2 & ~3)
        h2 = d2 & 3
        (h0, c) = h0.addingReportingOverflow(fold)
        (h1, c) = h1.addingReportingOverflow(c ? 1 : 0)
        h2 &+= c ? 1 : 0
    }

    /// Absorbs full block `i` of `p` if `i < n`: called once per ChaCha20 round, it spreads up to 20 blocks
    /// over a batch.
    @inline(__always)
    mutating func block(_ p: UnsafeRawPointer, _ i: Int, below n: Int) {
        if i < n {
            block(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16 * i, as: UInt64.self)),
                  UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16 * i + 8, as: UInt64.self)), hibit: 1)
        }
    }

    /// Absorbs `count` bytes as full 16-byte blocks, zero-padding the last one to 16 (the AEAD's pad16).
    @inline(__always)
    mutating func updatePadded(_ p: UnsafeRawPointer, count: Int) {
        var i = 0
        while i + 16 <= count {
            block(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)),
                  UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)), hibit: 1)
            i += 16
        }
        if i < count {
            var last: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &last) { $0.baseAddress!.copyMemory(from: p + i, byteCount: count - i) }
            block(UInt64(littleEndian: last.0), UInt64(littleEndian: last.1), hibit: 1)
        }
    }

    /// Plain Poly1305 message absorption (RFC 8439 §2.5): a short last block gets a 0x01 byte and no 2^128.
    mutating func update(_ message: UnsafeRawBufferPointer) {
        guard let p = message.baseAddress else { return }
        let count = message.count
        let full = count & ~15
        updatePadded(p, count: full)
        if full < count {
            var last: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &last) {
                $0.baseAddress!.copyMemory(from: p + full, byteCount: count - full)
                $0[count - full] = 1
            }
            block(UInt64(littleEndian: last.0), UInt64(littleEndian: last.1), hibit: 0)
        }
    }

    /// The tag, (h mod 2^130 − 5) + s mod 2^128, as two little-endian words.
    @inline(__always)
    func finish() -> (UInt64, UInt64) {
        // g = h + 5 − 2^130; if that is not negative (bit 130 set in h + 5), h ≥ p and the result is g.
        var c: Bool
        var g0: UInt64, g1: UInt64
        (g0, c) = h0.addingReportingOverflow(5)
        (g1, c) = h1.addingReportingOverflow(c ? 1 : 0)
        let g2 = h2 &+ (c ? 1 : 0)
        let mask = 0 &- (g2 >> 2)  // all ones when h ≥ p; branch-free
        let f0 = (h0 & ~mask) | (g0 & mask)
        let f1 = (h1 & ~mask) | (g1 & mask)
        var t0: UInt64, t1: UInt64
        (t0, c) = f0.addingReportingOverflow(pad0)
        t1 = f1 &+ pad1 &+ (c ? 1 : 0)
        return (t0, t1)
    }
}

// BLAKE2s (RFC 7693), HMAC-BLAKE2s (RFC 2104) and WireGuard's HKDF, written from the RFCs.
//
// Everything here is the handshake's slow path except `BLAKE2s.mac`, which the responder runs on every
// handshake message (mac1). None of it allocates except where it returns `[UInt8]`.

/// BLAKE2s (RFC 7693): 32-bit words, 64-byte blocks, 10 rounds, digests of 1…32 bytes, optional key of
/// up to 32 bytes.
public struct BLAKE2s: Sendable {
    public static let blockSize = 64
    public static let maxDigestSize = 32

    @usableFromInline static let iv: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A, 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19
    )

    /// RFC 7693 §2.7: the message word permutations for the 10 rounds.
    static let sigma: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ]

    // State: h[0..8], counter t, a 64-byte buffer and its fill level.
    var h0: UInt32, h1: UInt32, h2: UInt32, h3: UInt32, h4: UInt32, h5: UInt32, h6: UInt32, h7: UInt32
    var t: UInt64 = 0
    var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    var buffered = 0
    public let digestSize: Int

    /// A hash state for a digest of `digestSize` bytes (1…32), keyed when `key` is not empty (0…32 bytes).
    public init(digestSize: Int = 32, key: some Collection<UInt8> = [UInt8]()) {
        precondition(digestSize >= 1 && digestSize <= 32, "BLAKE2s digest size is 1…32 bytes")
        precondition(key.count <= 32, "BLAKE2s key is at most 32 bytes")
        self.digestSize = digestSize
        let iv = BLAKE2s.iv
        h0 = iv.0 ^ (0x0101_0000 | UInt32(key.count) << 8 | UInt32(digestSize))
        h1 = iv.1; h2 = iv.2; h3 = iv.3; h4 = iv.4; h5 = iv.5; h6 = iv.6; h7 = iv.7
        if !key.isEmpty {
            var block = [UInt8](repeating: 0, count: 64)
            for (i, b) in key.enumerated() { block[i] = b }
            update(block)
        }
    }

    /// Absorbs `data`.
    public mutating func update(_ data: some Collection<UInt8>) {
        for byte in data { absorb(byte) }
    }

    /// Absorbs the bytes of a raw buffer.
    public mutating func update(_ data: UnsafeRawBufferPointer) {
        for byte in data { absorb(byte) }
    }

    @inline(__always)
    mutating func absorb(_ byte: UInt8) {
        if buffered == 64 {
            t &+= 64
            compress(last: false)
            buffer = (0, 0, 0, 0, 0, 0, 0, 0)
            buffered = 0
        }
        withUnsafeMutableBytes(of: &buffer) { $0[buffered] = byte }
        buffered += 1
    }

    /// The digest (`digestSize` bytes). The state must not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: digestSize)
        out.withUnsafeMutableBytes { finalize(into: $0) }
        return out
    }

    /// Writes the digest into the first `digestSize` bytes of `out`.
    public mutating func finalize(into out: UnsafeMutableRawBufferPointer) {
        t &+= UInt64(buffered)
        // The buffer's unused tail is already zero (it is cleared after every compression).
        compress(last: true)
        let words = [h0, h1, h2, h3, h4, h5, h6, h7]
        for i in 0..<digestSize {
            out[i] = UInt8(truncatingIfNeeded: words[i / 4] >> (UInt32(i % 4) * 8))
        }
    }

    @inline(__always)
    static func g(_ v: inout [UInt32], _ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt32, _ y: UInt32) {
        v[a] = v[a] &+ v[b] &+ x
        v[d] = (v[d] ^ v[a]).rotateRight(16)
        v[c] = v[c] &+ v[d]
        v[b] = (v[b] ^ v[c]).rotateRight(12)
        v[a] = v[a] &+ v[b] &+ y
        v[d] = (v[d] ^ v[a]).rotateRight(8)
        v[c] = v[c] &+ v[d]
        v[b] = (v[b] ^ v[c]).rotateRight(7)
    }

    mutating func compress(last: Bool) {
        var m = [UInt32](repeating: 0, count: 16)
        withUnsafeBytes(of: &buffer) { raw in
            for i in 0..<16 { m[i] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) }
        }
        let iv = BLAKE2s.iv
        var v: [UInt32] = [h0, h1, h2, h3, h4, h5, h6, h7,
                           iv.0, iv.1, iv.2, iv.3,
                           iv.4 ^ UInt32(truncatingIfNeeded: t), iv.5 ^ UInt32(truncatingIfNeeded: t >> 32),
                           last ? ~iv.6 : iv.6, iv.7]
        for r in 0..<10 {
            let s = BLAKE2s.sigma[r]
            BLAKE2s.g(&v, 0, 4, 8, 12, m[s[0]], m[s[1]])
            BLAKE2s.g(&v, 1, 5, 9, 13, m[s[2]], m[s[3]])
            BLAKE2s.g(&v, 2, 6, 10, 14, m[s[4]], m[s[5]])
            BLAKE2s.g(&v, 3, 7, 11, 15, m[s[6]], m[s[7]])
            BLAKE2s.g(&v, 0, 5, 10, 15, m[s[8]], m[s[9]])
            BLAKE2s.g(&v, 1, 6, 11, 12, m[s[10]], m[s[11]])
            BLAKE2s.g(&v, 2, 7, 8, 13, m[s[12]], m[s[13]])
            BLAKE2s.g(&v, 3, 4, 9, 14, m[s[14]], m[s[15]])
        }
        h0 ^= v[0] ^ v[8]; h1 ^= v[1] ^ v[9]; h2 ^= v[2] ^ v[10]; h3 ^= v[3] ^ v[11]
        h4 ^= v[4] ^ v[12]; h5 ^= v[5] ^ v[13]; h6 ^= v[6] ^ v[14]; h7 ^= v[7] ^ v[15]
    }

    // MARK: One-shot helpers (WireGuard's HASH and MAC)

    /// BLAKE2s of the concatenation of `parts`, `digestSize` bytes, keyed when `key` is not empty.
    public static func hash(_ parts: [UInt8]..., digestSize: Int = 32, key: [UInt8] = []) -> [UInt8] {
        var s = BLAKE2s(digestSize: digestSize, key: key)
        for p in parts { s.update(p) }
        return s.finalize()
    }

    /// WireGuard's `MAC(key, input)`: keyed BLAKE2s with a 16-byte digest.
    public static func mac(key: [UInt8], _ input: UnsafeRawBufferPointer) -> [UInt8] {
        var s = BLAKE2s(digestSize: 16, key: key)
        s.update(input)
        return s.finalize()
    }
}

extension UInt32 {
    @inline(__always) func rotateRight(_ n: UInt32) -> UInt32 { (self >> n) | (self << (32 - n)) }
    @inline(__always) func rotateLeft(_ n: UInt32) -> UInt32 { (self << n) | (self >> (32 - n)) }
}

/// HMAC over BLAKE2s-256 (RFC 2104 with a 64-byte block), as WireGuard's `HMAC`.
public enum HMACBLAKE2s {
    /// HMAC-BLAKE2s-256(key, concatenation of `parts`). Keys longer than 64 bytes are hashed first.
    public static func authenticate(key: [UInt8], _ parts: [UInt8]...) -> [UInt8] {
        var k = key.count > 64 ? BLAKE2s.hash(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        var inner = BLAKE2s()
        inner.update(k.map { $0 ^ 0x36 })
        for p in parts { inner.update(p) }
        let innerDigest = inner.finalize()
        var outer = BLAKE2s()
        outer.update(k.map { $0 ^ 0x5C })
        outer.update(innerDigest)
        return outer.finalize()
    }
}

/// WireGuard's KDF (HKDF, RFC 5869, over HMAC-BLAKE2s): `KDFn(key, input)` returns n 32-byte values
/// τ1…τn with τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i-1) ‖ i).
public enum WireGuardKDF {
    public static func derive(_ n: Int, key: [UInt8], input: [UInt8]) -> [[UInt8]] {
        precondition(n >= 1 && n <= 3)
        let prk = HMACBLAKE2s.authenticate(key: key, input)
        var out: [[UInt8]] = []
        var previous: [UInt8] = []
        for i in 1...n {
            previous = HMACBLAKE2s.authenticate(key: prk, previous, [UInt8(i)])
            out.append(previous)
        }
        return out
    }
    public static func kdf1(key: [UInt8], input: [UInt8]) -> [UInt8] { derive(1, key: key, input: input)[0] }
    public static func kdf2(key: [UInt8], input: [UInt8]) -> ([UInt8], [UInt8]) {
        let r = derive(2, key: key, input: input); return (r[0], r[1])
    }
    public static func kdf3(key: [UInt8], input: [UInt8]) -> ([UInt8], [UInt8], [UInt8]) {
        let r = derive(3, key: key, input: input); return (r[0], r[1], r[2])
    }
}

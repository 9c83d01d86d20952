// The AEADs WireGuard uses: ChaCha20-Poly1305 (RFC 8439, from swift-crypto) with WireGuard's nonce
// (4 zero bytes ‖ 64-bit little-endian counter), and XChaCha20-Poly1305 for cookie replies, built here
// from HChaCha20 (draft-irtf-cfrg-xchacha) since swift-crypto has no XChaCha.
//
// Allocation note: swift-crypto's ChaChaPoly API returns `Data`, so every seal/open allocates inside
// swift-crypto (the AEAD context, the output and tag buffers, the sealed box). Nimbus adds nothing to
// that per packet: inputs are passed as raw buffers over the caller's packet, and the result is copied
// back into the caller's buffer.
import Crypto
import Foundation

/// WireGuard's ChaCha20-Poly1305 with counter nonces.
public enum WireGuardAEAD {
    /// The 12-byte nonce for `counter`: 4 zero bytes then the counter, little-endian.
    public static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        // Three 32-bit words: 0, then the counter's low and high halves, all little-endian (no allocation).
        var words = (UInt32(0), UInt32(truncatingIfNeeded: counter).littleEndian,
                     UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
        return withUnsafeBytes(of: &words) { try! ChaChaPoly.Nonce(data: $0) }
    }

    /// Seals `plaintext` with `key` and `counter`, authenticating `aad`: ciphertext ‖ 16-byte tag.
    public static func seal(key: SymmetricKey, counter: UInt64, plaintext: [UInt8], aad: [UInt8]) -> [UInt8] {
        let box = try! ChaChaPoly.seal(plaintext, using: key, nonce: nonce(counter), authenticating: aad)
        return [UInt8](box.ciphertext) + [UInt8](box.tag)
    }

    /// Opens ciphertext ‖ tag; nil when authentication fails.
    public static func open(key: SymmetricKey, counter: UInt64, ciphertext: [UInt8], aad: [UInt8]) -> [UInt8]? {
        guard ciphertext.count >= 16 else { return nil }
        guard let box = try? ChaChaPoly.SealedBox(nonce: nonce(counter), ciphertext: ciphertext.dropLast(16),
                                                  tag: ciphertext.suffix(16)),
              let plain = try? ChaChaPoly.open(box, using: key, authenticating: aad) else { return nil }
        return [UInt8](plain)
    }
}

/// HChaCha20 and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03).
public enum XChaCha20Poly1305 {
    /// HChaCha20(key, 16-byte nonce): the ChaCha20 state after 20 rounds without the final addition,
    /// words 0…3 and 12…15, little-endian: a 32-byte subkey.
    public static func hchacha20(key: [UInt8], nonce: [UInt8]) -> [UInt8] {
        precondition(key.count == 32 && nonce.count == 16)
        func le(_ b: [UInt8], _ i: Int) -> UInt32 {
            UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
        }
        var s: [UInt32] = [0x6170_7865, 0x3320_646E, 0x7962_2D32, 0x6B20_6574]
        for i in 0..<8 { s.append(le(key, i * 4)) }
        for i in 0..<4 { s.append(le(nonce, i * 4)) }
        func qr(_ a: Int, _ b: Int, _ c: Int, _ d: Int) {
            s[a] = s[a] &+ s[b]; s[d] = (s[d] ^ s[a]).rotateLeft(16)
            s[c] = s[c] &+ s[d]; s[b] = (s[b] ^ s[c]).rotateLeft(12)
            s[a] = s[a] &+ s[b]; s[d] = (s[d] ^ s[a]).rotateLeft(8)
            s[c] = s[c] &+ s[d]; s[b] = (s[b] ^ s[c]).rotateLeft(7)
        }
        for _ in 0..<10 {
            qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
            qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
        }
        var out: [UInt8] = []
        for w in [s[0], s[1], s[2], s[3], s[12], s[13], s[14], s[15]] {
            for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: w >> (UInt32(k) * 8))) }
        }
        return out
    }

    static func subkeyAndNonce(key: [UInt8], nonce: [UInt8]) -> (SymmetricKey, ChaChaPoly.Nonce) {
        precondition(nonce.count == 24)
        let sub = hchacha20(key: key, nonce: Array(nonce[0..<16]))
        let n = [0, 0, 0, 0] + Array(nonce[16..<24])
        return (SymmetricKey(data: sub), try! ChaChaPoly.Nonce(data: n))
    }

    /// Seals with a 24-byte nonce: ciphertext ‖ tag.
    public static func seal(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], aad: [UInt8]) -> [UInt8] {
        let (k, n) = subkeyAndNonce(key: key, nonce: nonce)
        let box = try! ChaChaPoly.seal(plaintext, using: k, nonce: n, authenticating: aad)
        return [UInt8](box.ciphertext) + [UInt8](box.tag)
    }

    /// Opens ciphertext ‖ tag with a 24-byte nonce; nil when authentication fails.
    public static func open(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], aad: [UInt8]) -> [UInt8]? {
        guard ciphertext.count >= 16 else { return nil }
        let (k, n) = subkeyAndNonce(key: key, nonce: nonce)
        guard let box = try? ChaChaPoly.SealedBox(nonce: n, ciphertext: ciphertext.dropLast(16), tag: ciphertext.suffix(16)),
              let plain = try? ChaChaPoly.open(box, using: k, authenticating: aad) else { return nil }
        return [UInt8](plain)
    }
}

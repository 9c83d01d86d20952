import Crypto
import Foundation
import Glibc
import Testing
@testable import NimbusVPN

/// SplitMix64: deterministic keys, counters and messages.
private struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

private let ladies = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)

@Suite struct InPlaceChaChaPolyTests {
    /// RFC 8439 §2.8.2: the AEAD vector, with associated data and a non-WireGuard nonce.
    @Test func rfc8439AEADVector() {
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        let nonce = hex("070000004041424344454647")
        let aad = hex("50515253c0c1c2c3c4c5c6c7")
        let expected = hex("""
            d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
            1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
            3ff4def08e4b7a9de576d26586cec64b6116
            """)
        let expectedTag = hex("1ae10b594f09e26a7e902ecbd0600691")
        let aead = key.withUnsafeBytes { InPlaceChaChaPoly(key: $0) }
        var buffer = ladies
        var tag = [UInt8](repeating: 0, count: 16)
        buffer.withUnsafeMutableBytes { b in
            nonce.withUnsafeBytes { n in aad.withUnsafeBytes { a in tag.withUnsafeMutableBytes { t in
                aead.seal(b, nonce: n, aad: a, tag: t.baseAddress!)
            } } }
        }
        #expect(buffer == expected)
        #expect(tag == expectedTag)

        func open(_ tag: [UInt8], _ aad: [UInt8]) -> Bool {
            buffer.withUnsafeMutableBytes { b in
                nonce.withUnsafeBytes { n in aad.withUnsafeBytes { a in tag.withUnsafeBytes { t in
                    aead.open(b, nonce: n, aad: a, tag: t.baseAddress!)
                } } }
            }
        }
        var badAAD = aad
        badAAD[0] ^= 1
        #expect(!open(tag, badAAD))
        #expect(buffer == expected)
        #expect(open(tag, aad))
        #expect(buffer == ladies)
    }

    /// RFC 8439 §2.5.2: Poly1305 alone (a short last block: 0x01 appended, no 2^128 bit).
    @Test func rfc8439Poly1305Vector() {
        let key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
        var poly = key.withUnsafeBytes { Poly1305(key: $0) }
        Array("Cryptographic Forum Research Group".utf8).withUnsafeBytes { poly.update($0) }
        let (t0, t1) = poly.finish()
        var tag = (t0.littleEndian, t1.littleEndian)
        let bytes = withUnsafeBytes(of: &tag) { [UInt8]($0) }
        #expect(bytes == hex("a8061dc1305136c6c22b8baf0c0127a9"))
    }

    /// RFC 8439 §2.4.2: ChaCha20 encryption, block counter 1, two blocks and a partial one.
    @Test func rfc8439ChaCha20Vector() {
        let key = [UInt8](0..<32)
        let nonce = hex("000000000000004a00000000")
        let aead = key.withUnsafeBytes { InPlaceChaChaPoly(key: $0) }
        var buffer = ladies
        buffer.withUnsafeMutableBytes { b in nonce.withUnsafeBytes { aead.chacha20(b, nonce: $0) } }
        #expect(buffer == hex("""
            6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b357
            1639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736
            5af90bbf74a35be6b40b8eedf2785e42874d
            """))
    }

    /// Same ciphertext and tag as swift-crypto with WireGuard's nonce and no AAD, for lengths around the
    /// 16-byte Poly1305 block, the 64-byte ChaCha20 block and the 256-byte four-block batch; round trip;
    /// every single-bit flip in ciphertext or tag is rejected and leaves the buffer as it was.
    @Test func matchesSwiftCrypto() throws {
        var rng = SplitMix64(state: 0x4E49_4D42_5553_4145)
        let lengths = [0, 1, 15, 16, 17, 63, 64, 65, 191, 192, 193, 255, 256, 257, 448, 449, 1420, 1500]
        for length in lengths {
            for round in 0..<3 {
                let key = rng.bytes(32)
                // Counters near the 32-bit boundary too, so the high nonce word is exercised.
                let counter = round == 0 ? rng.next() : round == 1 ? UInt64(UInt32.max) &+ UInt64(length) : UInt64(length)
                let plaintext = rng.bytes(length)

                let box = try ChaChaPoly.seal(plaintext, using: SymmetricKey(data: key), nonce: WireGuardAEAD.nonce(counter))
                let aead = key.withUnsafeBytes { InPlaceChaChaPoly(key: $0) }
                var buffer = plaintext
                var tag = [UInt8](repeating: 0, count: 16)
                buffer.withUnsafeMutableBytes { b in tag.withUnsafeMutableBytes { aead.seal(b, counter: counter, tag: $0.baseAddress!) } }
                #expect(buffer == [UInt8](box.ciphertext), "ciphertext, length \(length)")
                #expect(tag == [UInt8](box.tag), "tag, length \(length)")

                let ciphertext = buffer
                func open(_ tag: [UInt8]) -> Bool {
                    buffer.withUnsafeMutableBytes { b in tag.withUnsafeBytes { aead.open(b, counter: counter, tag: $0.baseAddress!) } }
                }
                // Every bit of the tag, and (for speed) every bit of the first and last 64 bytes and one
                // random bit per byte elsewhere in the ciphertext.
                for bit in 0..<128 {
                    var bad = tag
                    bad[bit / 8] ^= 1 << (bit % 8)
                    #expect(!open(bad), "tag bit \(bit), length \(length)")
                    #expect(buffer == ciphertext)
                }
                for byte in 0..<length {
                    let bits = byte < 64 || byte >= length - 64 ? Array(0..<8) : [Int(rng.next() % 8)]
                    for bit in bits {
                        buffer[byte] ^= 1 << bit
                        let flipped = buffer
                        #expect(!open(tag), "ciphertext byte \(byte) bit \(bit), length \(length)")
                        #expect(buffer == flipped)
                        buffer[byte] ^= 1 << bit
                    }
                }
                #expect(open(tag), "round trip, length \(length)")
                #expect(buffer == plaintext, "round trip, length \(length)")
                // A different counter is a different nonce.
                buffer = ciphertext
                #expect(!buffer.withUnsafeMutableBytes { b in tag.withUnsafeBytes { aead.open(b, counter: counter &+ 1, tag: $0.baseAddress!) } })
            }
        }
    }

    /// Every length 0…300 and the lengths around each path's edges, against swift-crypto with a random
    /// nonce and associated data (so the aad absorption is checked on every path), and through the
    /// WireGuard entry points: seal is two-pass up to 192 bytes and one-pass above; open is one-pass up to
    /// `onePassOpenLimit` (its scratch is split at 960 bytes of keystream) and two-pass above. Round trip;
    /// a flipped bit of ciphertext, tag or aad is rejected and leaves the buffer as it was.
    @Test func matchesSwiftCryptoAcrossPaths() throws {
        var rng = SplitMix64(state: 0x5354_4954_4348_4544)
        let limit = InPlaceChaChaPoly.onePassOpenLimit
        let edges = [447, 448, 449, 959, 960, 961, 1215, 1216, 1217, 1471, 1472, 1473, 1727, 1728, 1729,
                     limit - 1, limit, limit + 1, limit + 16, 2048, 4096, 9000, 9216]
        for (i, length) in (Array(0...300) + edges).enumerated() {
            let key = rng.bytes(32)
            let nonce = rng.bytes(12)
            let aad = rng.bytes([0, 1, 13, 16, 40][i % 5])
            let plaintext = rng.bytes(length)
            let aead = key.withUnsafeBytes { InPlaceChaChaPoly(key: $0) }

            let box = try ChaChaPoly.seal(plaintext, using: SymmetricKey(data: key), nonce: ChaChaPoly.Nonce(data: nonce),
                                          authenticating: aad)
            var buffer = plaintext
            var tag = [UInt8](repeating: 0, count: 16)
            buffer.withUnsafeMutableBytes { b in
                nonce.withUnsafeBytes { n in aad.withUnsafeBytes { a in tag.withUnsafeMutableBytes { t in
                    aead.seal(b, nonce: n, aad: a, tag: t.baseAddress!)
                } } }
            }
            #expect(buffer == [UInt8](box.ciphertext), "ciphertext, length \(length)")
            #expect(tag == [UInt8](box.tag), "tag, length \(length)")

            let ciphertext = buffer
            func open(_ tag: [UInt8], _ aad: [UInt8]) -> Bool {
                buffer.withUnsafeMutableBytes { b in
                    nonce.withUnsafeBytes { n in aad.withUnsafeBytes { a in tag.withUnsafeBytes { t in
                        aead.open(b, nonce: n, aad: a, tag: t.baseAddress!)
                    } } }
                }
            }
            var badTag = tag
            badTag[Int(rng.next() % 16)] ^= 1 << (rng.next() % 8)
            #expect(!open(badTag, aad), "tag bit, length \(length)")
            #expect(buffer == ciphertext, "untouched after a bad tag, length \(length)")
            if length > 0 {
                // The last byte too: on the one-pass path it is MACed after the batches, not during one.
                for byte in [Int(rng.next() % UInt64(length)), length - 1] {
                    buffer[byte] ^= 1 << (rng.next() % 8)
                    let flipped = buffer
                    #expect(!open(tag, aad), "ciphertext byte \(byte), length \(length)")
                    #expect(buffer == flipped, "untouched after a bad ciphertext, length \(length)")
                    buffer = ciphertext
                }
            }
            if !aad.isEmpty {
                var badAAD = aad
                badAAD[Int(rng.next() % UInt64(aad.count))] ^= 1
                #expect(!open(tag, badAAD), "aad, length \(length)")
                #expect(buffer == ciphertext)
            }
            #expect(open(tag, aad), "round trip, length \(length)")
            #expect(buffer == plaintext, "round trip, length \(length)")

            // WireGuard's entry points: nonce from the counter, no aad.
            let counter = rng.next()
            let wgBox = try ChaChaPoly.seal(plaintext, using: SymmetricKey(data: key), nonce: WireGuardAEAD.nonce(counter))
            buffer.withUnsafeMutableBytes { b in tag.withUnsafeMutableBytes { aead.seal(b, counter: counter, tag: $0.baseAddress!) } }
            #expect(buffer == [UInt8](wgBox.ciphertext), "WireGuard ciphertext, length \(length)")
            #expect(tag == [UInt8](wgBox.tag), "WireGuard tag, length \(length)")
            #expect(buffer.withUnsafeMutableBytes { b in tag.withUnsafeBytes { aead.open(b, counter: counter, tag: $0.baseAddress!) } },
                    "WireGuard round trip, length \(length)")
            #expect(buffer == plaintext, "WireGuard round trip, length \(length)")
        }
    }

}

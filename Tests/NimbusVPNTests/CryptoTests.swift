import Foundation
import Testing
@testable import NimbusVPN

func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.filter { !$0.isWhitespace }.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}
func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

@Suite struct BLAKE2sTests {
    @Test func rfc7693AppendixB() {
        #expect(BLAKE2s.hash(Array("abc".utf8)) == hex("""
            50 8C 5E 8C 32 7C 14 E2 E1 A7 2B A3 4E EB 45 2F 37 45 8B 20 9E D6 3A 29 4D 99 9B 4C 86 67 59 82
            """))
    }

    /// RFC 7693 Appendix E: hashes of every (digest length, input length) pair, unkeyed and keyed,
    /// hashed together.
    @Test func rfc7693AppendixESelfTest() {
        func seq(_ n: Int, _ seed: UInt32) -> [UInt8] {
            var a = 0xDEAD_4BAD &* seed, b: UInt32 = 1
            return (0..<n).map { _ in let t = a &+ b; a = b; b = t; return UInt8(t >> 24) }
        }
        var grand = BLAKE2s()
        for outlen in [16, 20, 28, 32] {
            for inlen in [0, 3, 64, 65, 255, 1024] {
                let input = seq(inlen, UInt32(inlen))
                grand.update(BLAKE2s.hash(input, digestSize: outlen))
                grand.update(BLAKE2s.hash(input, digestSize: outlen, key: seq(outlen, UInt32(outlen))))
            }
        }
        #expect(grand.finalize() == hex("""
            6A 41 1F 08 CE 25 AD CD FB 02 AB A6 41 45 1C EC 53 C5 98 B2 4F 4F C7 87 FB DC 88 79 7F 4C 1D FE
            """))
    }

    /// Values from Python's hashlib (HandshakeVectorTests.referenceScript).
    @Test func againstHashlib() {
        #expect(BLAKE2s.hash(Array("The quick brown fox".utf8), digestSize: 16, key: [UInt8](repeating: 0x6B, count: 32))
                == hex("adfa2e850ac3d1cf6fc5c7873be7988e"))
        #expect(BLAKE2s.hash((0..<200).map { UInt8($0) })
                == hex("6d244e1a06ce4ef578dd0f63aff0936706735119ca9c8d22d86c801414ab9741"))
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for split in [0, 1, 63, 64, 65, 128, 299, 300] {
            var s = BLAKE2s()
            s.update(data[0..<split])
            s.update(data[split...])
            #expect(s.finalize() == BLAKE2s.hash(data))
        }
    }

    @Test func hmacAgainstHashlibAndRFC2104() {
        #expect(HMACBLAKE2s.authenticate(key: Array("key".utf8), Array("The quick brown fox jumps over the lazy dog".utf8))
                == hex("f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0"))
        let longKey = (0..<100).map { UInt8($0) }
        #expect(HMACBLAKE2s.authenticate(key: longKey, Array("data".utf8))
                == hex("2624e61dfe9fcc84d3137a317c171ced634ef3fcd2fa3f5515940906f4e38c48"))
        // RFC 2104: a key longer than the block is replaced by its hash.
        #expect(HMACBLAKE2s.authenticate(key: longKey, Array("data".utf8))
                == HMACBLAKE2s.authenticate(key: BLAKE2s.hash(longKey), Array("data".utf8)))
        // H(K ^ opad ‖ H(K ^ ipad ‖ m)) spelled out.
        let k = Array("k".utf8) + [UInt8](repeating: 0, count: 63)
        let inner = BLAKE2s.hash(k.map { $0 ^ 0x36 }, Array("m".utf8))
        #expect(HMACBLAKE2s.authenticate(key: Array("k".utf8), Array("m".utf8)) == BLAKE2s.hash(k.map { $0 ^ 0x5C }, inner))
        // Parts concatenate.
        #expect(HMACBLAKE2s.authenticate(key: [1], [1, 2], [3]) == HMACBLAKE2s.authenticate(key: [1], [1, 2, 3]))
    }

    @Test func kdf() {
        let (t1, t2, t3) = WireGuardKDF.kdf3(key: [UInt8](repeating: 1, count: 32), input: Array("input".utf8))
        #expect(t1 == hex("17cdf2d7371de9035d081b63b5d0993c1ce87d38abb21913f3bc825920f88124"))
        #expect(t2 == hex("437f52b1d367f50760b57edc19f21fba061fe48eedb600857a555bb169e767be"))
        #expect(t3 == hex("74c97525c9c2f75b71987b2c664078b3d3d361d21bf460a9de63ac1b9072d624"))
        let (u1, u2) = WireGuardKDF.kdf2(key: [UInt8](repeating: 1, count: 32), input: Array("input".utf8))
        #expect(u1 == t1 && u2 == t2)
    }
}

@Suite struct XChaChaTests {
    /// draft-irtf-cfrg-xchacha-03 §2.2.1.
    @Test func hchacha20() {
        #expect(XChaCha20Poly1305.hchacha20(key: (0..<32).map { UInt8($0) }, nonce: hex("000000090000004a0000000031415927"))
                == hex("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"))
    }

    /// draft-irtf-cfrg-xchacha-03 Appendix A.3.1.
    @Test func xchacha20poly1305() {
        let pt = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let aad = hex("50515253c0c1c2c3c4c5c6c7")
        let key = (0x80..<0xA0).map { UInt8($0) }
        let iv = (0x40..<0x58).map { UInt8($0) }
        let expected = hex("""
            bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c2\
            16cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c6\
            8b13b52ec0875924c1c7987947deafd8780acf49
            """)
        let sealed = XChaCha20Poly1305.seal(key: key, nonce: iv, plaintext: pt, aad: aad)
        #expect(sealed == expected)
        #expect(XChaCha20Poly1305.open(key: key, nonce: iv, ciphertext: sealed, aad: aad) == pt)
        var bad = sealed; bad[0] ^= 1
        #expect(XChaCha20Poly1305.open(key: key, nonce: iv, ciphertext: bad, aad: aad) == nil)
    }
}

@Suite struct KeyTests {
    /// RFC 7748 §6.1 (Alice's key pair).
    @Test func publicKeyDerivationAndBase64() {
        let priv = WireGuardKey(bytes: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))!
        #expect(priv.publicKey.bytes == hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
        #expect(WireGuardKey(base64: priv.base64) == priv)
        #expect(priv.base64.count == 44)
        #expect(WireGuardKey(base64: "not base64") == nil)
        #expect(WireGuardKey(base64: "AAAA") == nil)
    }

    @Test func allZeroSharedSecretIsRejected() {
        let priv = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        #expect(X25519.dh(privateKey: priv, publicKey: [UInt8](repeating: 0, count: 32)) == nil)
        // A low-order point (order 8) also gives zero.
        let lowOrder = hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
        #expect(X25519.dh(privateKey: priv, publicKey: lowOrder) == nil)
        // The interface refuses such a peer.
        var wg = WireGuardInterface(privateKey: WireGuardKey(bytes: priv)!,
                                    peers: [WireGuardPeerConfig(publicKey: .zero, endpoint: WireGuardEndpoint("192.0.2.1:1"))],
                                    random: SeededRandom(seed: 1))
        let (r, _) = wg.send(plaintext: [0x45], toPeer: 0, now: 0)
        #expect(r == .drop(.unknownPeer))
    }

    @Test func generatedKeysAreClampedAndDeterministic() {
        var r1 = SeededRandom(seed: 7), r2 = SeededRandom(seed: 7)
        let a = WireGuardKey.generatePrivate(using: &r1), b = WireGuardKey.generatePrivate(using: &r2)
        #expect(a == b)
        #expect(a.bytes[0] & 7 == 0 && a.bytes[31] & 0x80 == 0 && a.bytes[31] & 0x40 != 0)
    }
}

@Suite struct ReplayWindowTests {
    @Test func slidingWindow() {
        var w = ReplayWindow()
        do { let ok = w.accept(0); #expect(ok) }
        do { let ok = w.accept(0); #expect(!ok) }
        do { let ok = w.accept(2); #expect(ok) }
        do { let ok = w.accept(1); #expect(ok) }
        do { let ok = w.accept(1); #expect(!ok) }
        do { let ok = w.accept(5000); #expect(ok) }
        do { let ok = w.accept(5000 - ReplayWindow.windowSize - 1); #expect(!ok) }  // too old
        do { let ok = w.accept(5000 - ReplayWindow.windowSize); #expect(ok) }       // oldest still inside
        do { let ok = w.accept(5000 - ReplayWindow.windowSize); #expect(!ok) }
        do { let ok = w.accept(4999); #expect(ok) }
        #expect(w.wouldAccept(4998) && !w.wouldAccept(4999))
        // A big jump clears the whole ring.
        do { let ok = w.accept(1_000_000); #expect(ok) }
        do { let ok = w.accept(1_000_000 - 64); #expect(ok) }
        do { let ok = w.accept(WireGuardTimers.rejectAfterMessages); #expect(!ok) }
    }

    @Test func everyCounterOnceInAnyOrder() {
        var w = ReplayWindow()
        var rng = SeededRandom(seed: 3)
        let counters = (0..<1500).map { UInt64($0) }.shuffled(using: &rng)
        for c in counters { do { let ok = w.accept(c); #expect(ok) } }
        for c in counters.prefix(100) { do { let ok = w.accept(c); #expect(!ok) } }
    }
}

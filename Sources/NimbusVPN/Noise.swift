// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s exactly as WireGuard uses it (whitepaper §5.4): the handshake
// initiation (type 1, 148 bytes), the response (type 2, 92 bytes), the cookie reply (type 3, 64 bytes),
// mac1/mac2, and the derivation of the transport keys. Pure functions over bytes; the interface keeps
// the state between them.
import Crypto

/// Message types, sizes and field offsets of the WireGuard wire format (all integers little-endian).
public enum WireGuardMessage {
    public static let initiationType: UInt8 = 1
    public static let responseType: UInt8 = 2
    public static let cookieReplyType: UInt8 = 3
    public static let transportType: UInt8 = 4

    public static let initiationSize = 148
    public static let responseSize = 92
    public static let cookieReplySize = 64
    /// Transport data header: type, 3 reserved, receiver index, 64-bit counter.
    public static let transportHeaderSize = 16
    /// The Poly1305 tag that follows every ciphertext.
    public static let tagSize = 16
    /// The smallest transport message: header + tag (a keepalive).
    public static let transportMinimumSize = 32

    /// The message type byte when the 3 reserved bytes are zero, else nil.
    @inlinable
    public static func type(of datagram: UnsafeRawBufferPointer) -> UInt8? {
        guard datagram.count >= 4, datagram[1] == 0, datagram[2] == 0, datagram[3] == 0 else { return nil }
        return datagram[0]
    }
}

/// The Noise constants and the steps of the handshake.
enum Noise {
    static let construction = Array("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s".utf8)
    static let identifier = Array("WireGuard v1 zx2c4 Jason@zx2c4.com".utf8)
    static let labelMac1 = Array("mac1----".utf8)
    static let labelCookie = Array("cookie--".utf8)

    /// C0 = HASH(CONSTRUCTION), H0 = HASH(C0 ‖ IDENTIFIER).
    static let initialChainingKey = BLAKE2s.hash(construction)
    static let initialHash = BLAKE2s.hash(initialChainingKey, identifier)

    static func mixHash(_ h: [UInt8], _ data: [UInt8]) -> [UInt8] { BLAKE2s.hash(h, data) }

    static func aeadSeal(_ key: [UInt8], _ plaintext: [UInt8], _ aad: [UInt8]) -> [UInt8] {
        WireGuardAEAD.seal(key: SymmetricKey(data: key), counter: 0, plaintext: plaintext, aad: aad)
    }
    static func aeadOpen(_ key: [UInt8], _ ciphertext: [UInt8], _ aad: [UInt8]) -> [UInt8]? {
        WireGuardAEAD.open(key: SymmetricKey(data: key), counter: 0, ciphertext: ciphertext, aad: aad)
    }

    // MARK: Little-endian helpers

    static func putLE32(_ v: UInt32, into b: inout [UInt8], at o: Int) {
        for k in 0..<4 { b[o + k] = UInt8(truncatingIfNeeded: v >> (UInt32(k) * 8)) }
    }
    static func le32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }

    // MARK: Initiation

    /// The initiator's state between sending the initiation and receiving the response.
    struct InitiatorState {
        var chainingKey: [UInt8]
        var hash: [UInt8]
        var ephemeralPrivate: [UInt8]
    }

    /// Builds the initiation up to (not including) mac1/mac2, zeroed there.
    /// Returns nil only if a DH result is all zeros (a bad peer key).
    static func createInitiation(localStaticPrivate: [UInt8], localStaticPublic: [UInt8], remoteStaticPublic: [UInt8],
                                 staticStatic: [UInt8], senderIndex: UInt32, ephemeralPrivate: [UInt8],
                                 timestamp: [UInt8]) -> (message: [UInt8], state: InitiatorState)? {
        var msg = [UInt8](repeating: 0, count: WireGuardMessage.initiationSize)
        msg[0] = WireGuardMessage.initiationType
        putLE32(senderIndex, into: &msg, at: 4)
        var c = initialChainingKey
        var h = mixHash(initialHash, remoteStaticPublic)
        let ephemeralPublic = WireGuardKey(bytes: ephemeralPrivate)!.publicKey.bytes
        c = WireGuardKDF.kdf1(key: c, input: ephemeralPublic)
        msg.replaceSubrange(8..<40, with: ephemeralPublic)
        h = mixHash(h, ephemeralPublic)
        guard let es = X25519.dh(privateKey: ephemeralPrivate, publicKey: remoteStaticPublic) else { return nil }
        var k: [UInt8]
        (c, k) = WireGuardKDF.kdf2(key: c, input: es)
        let encryptedStatic = aeadSeal(k, localStaticPublic, h)
        msg.replaceSubrange(40..<88, with: encryptedStatic)
        h = mixHash(h, encryptedStatic)
        (c, k) = WireGuardKDF.kdf2(key: c, input: staticStatic)
        let encryptedTimestamp = aeadSeal(k, timestamp, h)
        msg.replaceSubrange(88..<116, with: encryptedTimestamp)
        h = mixHash(h, encryptedTimestamp)
        return (msg, InitiatorState(chainingKey: c, hash: h, ephemeralPrivate: ephemeralPrivate))
    }

    /// What the responder learns from a valid initiation.
    struct ConsumedInitiation {
        var remoteStaticPublic: [UInt8]
        var remoteEphemeral: [UInt8]
        var senderIndex: UInt32
        var timestamp: [UInt8]
        var chainingKey: [UInt8]
        var hash: [UInt8]
    }

    /// Decrypts an initiation addressed to us. `staticStaticFor` gives DH(our static, their static) for a
    /// known peer public key (nil: unknown peer). Returns nil when anything fails to authenticate.
    static func consumeInitiation(_ msg: [UInt8], localStaticPrivate: [UInt8], localStaticPublic: [UInt8],
                                  staticStaticFor: ([UInt8]) -> [UInt8]?) -> ConsumedInitiation? {
        guard msg.count == WireGuardMessage.initiationSize else { return nil }
        var c = initialChainingKey
        var h = mixHash(initialHash, localStaticPublic)
        let ephemeral = Array(msg[8..<40])
        c = WireGuardKDF.kdf1(key: c, input: ephemeral)
        h = mixHash(h, ephemeral)
        guard let es = X25519.dh(privateKey: localStaticPrivate, publicKey: ephemeral) else { return nil }
        var k: [UInt8]
        (c, k) = WireGuardKDF.kdf2(key: c, input: es)
        let encryptedStatic = Array(msg[40..<88])
        guard let remoteStatic = aeadOpen(k, encryptedStatic, h) else { return nil }
        h = mixHash(h, encryptedStatic)
        guard let ss = staticStaticFor(remoteStatic) else { return nil }
        (c, k) = WireGuardKDF.kdf2(key: c, input: ss)
        let encryptedTimestamp = Array(msg[88..<116])
        guard let timestamp = aeadOpen(k, encryptedTimestamp, h) else { return nil }
        h = mixHash(h, encryptedTimestamp)
        return ConsumedInitiation(remoteStaticPublic: remoteStatic, remoteEphemeral: ephemeral,
                                  senderIndex: le32(msg, 4), timestamp: timestamp, chainingKey: c, hash: h)
    }

    // MARK: Response

    /// Transport keys from the final chaining key: (initiator→responder, responder→initiator).
    static func transportKeys(_ c: [UInt8]) -> ([UInt8], [UInt8]) { WireGuardKDF.kdf2(key: c, input: []) }

    /// Builds the response (mac fields zero) and the transport keys (initiator→responder first).
    static func createResponse(_ i: ConsumedInitiation, senderIndex: UInt32, ephemeralPrivate: [UInt8],
                               presharedKey: [UInt8]) -> (message: [UInt8], sendKey: [UInt8], receiveKey: [UInt8])? {
        var msg = [UInt8](repeating: 0, count: WireGuardMessage.responseSize)
        msg[0] = WireGuardMessage.responseType
        putLE32(senderIndex, into: &msg, at: 4)
        putLE32(i.senderIndex, into: &msg, at: 8)
        var c = i.chainingKey
        var h = i.hash
        let ephemeralPublic = WireGuardKey(bytes: ephemeralPrivate)!.publicKey.bytes
        c = WireGuardKDF.kdf1(key: c, input: ephemeralPublic)
        msg.replaceSubrange(12..<44, with: ephemeralPublic)
        h = mixHash(h, ephemeralPublic)
        guard let ee = X25519.dh(privateKey: ephemeralPrivate, publicKey: i.remoteEphemeral),
              let se = X25519.dh(privateKey: ephemeralPrivate, publicKey: i.remoteStaticPublic) else { return nil }
        c = WireGuardKDF.kdf1(key: c, input: ee)
        c = WireGuardKDF.kdf1(key: c, input: se)
        let (c2, t, k) = WireGuardKDF.kdf3(key: c, input: presharedKey)
        c = c2
        h = mixHash(h, t)
        let empty = aeadSeal(k, [], h)
        msg.replaceSubrange(44..<60, with: empty)
        let (toResponder, toInitiator) = transportKeys(c)
        return (msg, toInitiator, toResponder)
    }

    /// Consumes a response to our initiation: the transport keys (send, receive) and the responder's index.
    static func consumeResponse(_ msg: [UInt8], state: InitiatorState, localStaticPrivate: [UInt8],
                                presharedKey: [UInt8]) -> (sendKey: [UInt8], receiveKey: [UInt8], remoteIndex: UInt32)? {
        guard msg.count == WireGuardMessage.responseSize else { return nil }
        var c = state.chainingKey
        var h = state.hash
        let ephemeral = Array(msg[12..<44])
        c = WireGuardKDF.kdf1(key: c, input: ephemeral)
        h = mixHash(h, ephemeral)
        guard let ee = X25519.dh(privateKey: state.ephemeralPrivate, publicKey: ephemeral),
              let se = X25519.dh(privateKey: localStaticPrivate, publicKey: ephemeral) else { return nil }
        c = WireGuardKDF.kdf1(key: c, input: ee)
        c = WireGuardKDF.kdf1(key: c, input: se)
        let (c2, t, k) = WireGuardKDF.kdf3(key: c, input: presharedKey)
        c = c2
        h = mixHash(h, t)
        guard aeadOpen(k, Array(msg[44..<60]), h) != nil else { return nil }
        let (toResponder, toInitiator) = transportKeys(c)
        return (toResponder, toInitiator, le32(msg, 4))
    }

    // MARK: mac1 / mac2 and cookies

    /// The mac1 key for messages sent to the holder of `publicKey`: HASH("mac1----" ‖ publicKey).
    static func mac1Key(_ publicKey: [UInt8]) -> [UInt8] { BLAKE2s.hash(labelMac1, publicKey) }
    /// The cookie-reply encryption key of the holder of `publicKey`: HASH("cookie--" ‖ publicKey).
    static func cookieKey(_ publicKey: [UInt8]) -> [UInt8] { BLAKE2s.hash(labelCookie, publicKey) }

    /// Offsets of mac1 in a handshake message of `size` bytes (mac2 follows at +16).
    static func mac1Offset(_ size: Int) -> Int { size - 32 }

    /// Fills mac1 (and mac2 when a cookie is given) of a handshake message; returns mac1.
    @discardableResult
    static func stampMacs(_ msg: inout [UInt8], mac1Key: [UInt8], cookie: [UInt8]?) -> [UInt8] {
        let o = mac1Offset(msg.count)
        let mac1 = msg.withUnsafeBytes { BLAKE2s.mac(key: mac1Key, UnsafeRawBufferPointer(rebasing: $0[0..<o])) }
        msg.replaceSubrange(o..<o + 16, with: mac1)
        if let cookie {
            let mac2 = msg.withUnsafeBytes { BLAKE2s.mac(key: cookie, UnsafeRawBufferPointer(rebasing: $0[0..<o + 16])) }
            msg.replaceSubrange(o + 16..<o + 32, with: mac2)
        } else {
            for k in o + 16..<o + 32 { msg[k] = 0 }
        }
        return mac1
    }

    static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var d: UInt8 = 0
        for i in 0..<b.count { d |= a[i] ^ b[i] }
        return d == 0
    }

    /// Checks mac1 of a handshake message sent to us.
    static func verifyMac1(_ msg: UnsafeRawBufferPointer, mac1Key: [UInt8]) -> Bool {
        let o = mac1Offset(msg.count)
        let expected = BLAKE2s.mac(key: mac1Key, UnsafeRawBufferPointer(rebasing: msg[0..<o]))
        return constantTimeEqual(UnsafeRawBufferPointer(rebasing: msg[o..<o + 16]), expected)
    }

    /// Checks mac2 of a handshake message against the cookie for its sender.
    static func verifyMac2(_ msg: UnsafeRawBufferPointer, cookie: [UInt8]) -> Bool {
        let o = mac1Offset(msg.count)
        let expected = BLAKE2s.mac(key: cookie, UnsafeRawBufferPointer(rebasing: msg[0..<o + 16]))
        return constantTimeEqual(UnsafeRawBufferPointer(rebasing: msg[o + 16..<o + 32]), expected)
    }

    /// A cookie reply: receiver index, 24-byte nonce, XAEAD(HASH("cookie--" ‖ our public), nonce, cookie, mac1).
    static func createCookieReply(receiverIndex: UInt32, nonce: [UInt8], cookie: [UInt8], mac1: [UInt8],
                                  cookieKey: [UInt8]) -> [UInt8] {
        var msg = [UInt8](repeating: 0, count: WireGuardMessage.cookieReplySize)
        msg[0] = WireGuardMessage.cookieReplyType
        putLE32(receiverIndex, into: &msg, at: 4)
        msg.replaceSubrange(8..<32, with: nonce)
        msg.replaceSubrange(32..<64, with: XChaCha20Poly1305.seal(key: cookieKey, nonce: nonce, plaintext: cookie, aad: mac1))
        return msg
    }

    /// Decrypts a cookie reply with the sender's cookie key and the mac1 we last sent it.
    static func consumeCookieReply(_ msg: [UInt8], cookieKey: [UInt8], lastMac1: [UInt8]) -> [UInt8]? {
        guard msg.count == WireGuardMessage.cookieReplySize else { return nil }
        return XChaCha20Poly1305.open(key: cookieKey, nonce: Array(msg[8..<32]), ciphertext: Array(msg[32..<64]),
                                      aad: lastMac1)
    }
}

/// TAI64N timestamps (12 bytes: big-endian 2^62 + 10 + seconds, big-endian nanoseconds), as WireGuard
/// puts in the initiation.
public enum TAI64N {
    /// The timestamp for `nanoseconds` since the Unix epoch.
    public static func timestamp(unixNanoseconds ns: UInt64) -> [UInt8] {
        let seconds = (UInt64(1) << 62) &+ 10 &+ ns / 1_000_000_000
        let nanos = UInt32(ns % 1_000_000_000)
        var out = [UInt8](repeating: 0, count: 12)
        for k in 0..<8 { out[k] = UInt8(truncatingIfNeeded: seconds >> (UInt64(7 - k) * 8)) }
        for k in 0..<4 { out[8 + k] = UInt8(truncatingIfNeeded: nanos >> (UInt32(3 - k) * 8)) }
        return out
    }

    /// Whether `a` is strictly later than `b` (byte-wise big-endian comparison).
    static func isAfter(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        for k in 0..<12 where a[k] != b[k] { return a[k] > b[k] }
        return false
    }
}

// Curve25519 keys in WireGuard's form: 32 bytes, written in base64 as `wg genkey` / `wg pubkey` print them.
import Crypto
import Foundation

/// A 32-byte WireGuard key (private, public or preshared).
public struct WireGuardKey: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// A key from exactly 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// A key from its base64 form (44 characters, as `wg genkey`, `wg pubkey` and `wg genpsk` print).
    public init?(base64 text: some StringProtocol) {
        guard let d = Data(base64Encoded: String(text).trimmingCharacters(in: .whitespacesAndNewlines)), d.count == 32
        else { return nil }
        self.bytes = [UInt8](d)
    }

    /// A new private key: 32 bytes from `random` (clamped by X25519 when used, as `wg genkey` does).
    public static func generatePrivate(using random: inout some RandomNumberGenerator) -> WireGuardKey {
        var b = [UInt8](repeating: 0, count: 32)
        for i in stride(from: 0, to: 32, by: 8) {
            let r = random.next()
            for k in 0..<8 { b[i + k] = UInt8(truncatingIfNeeded: r >> (UInt64(k) * 8)) }
        }
        // Clamp like `wg genkey`, so the printed key is the canonical one.
        b[0] &= 248; b[31] = (b[31] & 127) | 64
        return WireGuardKey(bytes: b)!
    }

    /// The base64 form.
    public var base64: String { Data(bytes).base64EncodedString() }
    public var description: String { base64 }

    /// The public key of this private key (X25519 with the base point), as `wg pubkey` prints it.
    public var publicKey: WireGuardKey {
        let priv = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes)
        return WireGuardKey(bytes: [UInt8](priv.publicKey.rawRepresentation))!
    }

    /// The all-zero key (what an absent preshared key means).
    public static let zero = WireGuardKey(bytes: [UInt8](repeating: 0, count: 32))!
}

enum X25519 {
    /// DH(private, public): the 32-byte shared secret, or nil when the public key is invalid or the result is
    /// all zeros (a low-order point: WireGuard rejects it).
    static func dh(privateKey: [UInt8], publicKey: [UInt8]) -> [UInt8]? {
        guard let priv = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey),
              let pub = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: publicKey),
              let shared = try? priv.sharedSecretFromKeyAgreement(with: pub)
        else { return nil }
        let out = shared.withUnsafeBytes { [UInt8]($0) }
        guard out.count == 32, out.contains(where: { $0 != 0 }) else { return nil }
        return out
    }
}

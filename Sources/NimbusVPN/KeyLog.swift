// Key logs for Wireshark's WireGuard dissector (preference `wg.keylog_file`): lines "<type> = <base64>"
// with the types LOCAL_STATIC_PRIVATE_KEY, REMOTE_STATIC_PUBLIC_KEY, LOCAL_EPHEMERAL_PRIVATE_KEY and
// PRESHARED_KEY. With one side's static private and ephemeral private keys the dissector decrypts the
// handshake and derives the transport keys, so it can show the inner packets.

public enum WireGuardKeyLog {
    /// The key-log lines for one completed handshake (no trailing newlines).
    public static func lines(for s: WireGuardHandshakeSecrets) -> [String] {
        [
            "LOCAL_STATIC_PRIVATE_KEY = \(s.localStaticPrivate.base64)",
            "REMOTE_STATIC_PUBLIC_KEY = \(s.remoteStaticPublic.base64)",
            "LOCAL_EPHEMERAL_PRIVATE_KEY = \(s.localEphemeralPrivate.base64)",
            "PRESHARED_KEY = \(s.presharedKey.base64)",
        ]
    }

    /// The key-log text (newline-terminated lines) for several handshakes, ready to append to a file.
    public static func text(for handshakes: [WireGuardHandshakeSecrets]) -> String {
        handshakes.flatMap(lines(for:)).map { $0 + "\n" }.joined()
    }
}

// The public value types of NimbusVPN: configuration, endpoints, timers, drop reasons, results.
import NimbusWire

/// A UDP endpoint (IPv4 address and port).
public struct WireGuardEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16
    public init(address: IPv4Address, port: UInt16) { self.address = address; self.port = port }
    /// Parses "A.B.C.D:PORT".
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let a = IPv4Address(parts[0]), let p = UInt16(parts[1]) else { return nil }
        self.init(address: a, port: p)
    }
    public var description: String { "\(address):\(port)" }
    /// 6 bytes (address then port, big-endian): what cookies are computed over.
    var cookieInput: [UInt8] {
        let a = address.value
        return [UInt8(a >> 24), UInt8(a >> 16 & 0xFF), UInt8(a >> 8 & 0xFF), UInt8(a & 0xFF),
                UInt8(port >> 8), UInt8(port & 0xFF)]
    }
}

/// One peer of a WireGuard interface, as in `wg set … peer`.
public struct WireGuardPeerConfig: Sendable {
    public var publicKey: WireGuardKey
    public var presharedKey: WireGuardKey?
    /// Where to send; learnt from the last authenticated packet when nil (a peer that only connects in).
    public var endpoint: WireGuardEndpoint?
    /// The inner source prefixes this peer may send from, and the destinations routed to it.
    public var allowedIPs: [IPv4CIDR]
    /// Seconds between keepalives sent when nothing else was (nil or 0: off).
    public var persistentKeepalive: UInt16?

    public init(publicKey: WireGuardKey, presharedKey: WireGuardKey? = nil, endpoint: WireGuardEndpoint? = nil,
                allowedIPs: [IPv4CIDR] = [], persistentKeepalive: UInt16? = nil) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
    }
}

/// The protocol's constants (whitepaper §6.1), times in nanoseconds.
public enum WireGuardTimers {
    public static let second: UInt64 = 1_000_000_000
    public static let rekeyAfterMessages: UInt64 = 1 << 60
    public static let rejectAfterMessages: UInt64 = UInt64.max - (1 << 13)   // 2^64 − 2^13 − 1
    public static let rekeyAfterTime: UInt64 = 120 * second
    public static let rejectAfterTime: UInt64 = 180 * second
    public static let rekeyAttemptTime: UInt64 = 90 * second
    public static let rekeyTimeout: UInt64 = 5 * second
    public static let keepaliveTimeout: UInt64 = 10 * second
    /// Retransmissions of one handshake before giving up (REKEY-ATTEMPT-TIME / REKEY-TIMEOUT).
    public static let maxHandshakeAttempts = Int(rekeyAttemptTime / rekeyTimeout)
    /// Upper bound (exclusive) of the random jitter added to REKEY-TIMEOUT: 334 ms.
    public static let rekeyTimeoutJitterMax: UInt64 = 334_000_000
    /// How long a received cookie (and our cookie secret) stays valid.
    public static let cookieRefreshTime: UInt64 = 120 * second
    /// Initiations from one peer closer together than this are ignored (flood protection).
    public static let handshakeInitiationRate: UInt64 = second / 50
    /// Plaintexts held per peer while a handshake is under way.
    public static let stagedQueueLimit = 128
}

/// Why the interface refused a datagram or a packet. `name` is the dataplane's kebab-case drop reason.
public enum WireGuardDropReason: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// A transport counter already seen, too old for the window, or past REJECT-AFTER-MESSAGES.
    case replay
    /// A transport message or handshake field that did not authenticate.
    case authFailed
    /// A decrypted packet whose inner source is not in the sending peer's allowed-ips (see `allows`).
    case sourceNotAllowed
    /// Not a WireGuard message: unknown type, wrong size, nonzero reserved bytes.
    case malformed
    /// A decrypted packet that is not a whole IPv4/IPv6 packet.
    case malformedInner
    /// A receiver index that names no session or handshake of ours.
    case unknownIndex
    /// A transport message on a session older than REJECT-AFTER-TIME.
    case keyExpired
    /// A handshake message whose mac1 is wrong (not for us, or corrupted).
    case badMac1
    /// A handshake message that failed to decrypt, or from a public key that is not a peer.
    case handshakeFailed
    /// An initiation whose timestamp is not newer than the last one from that peer (a replayed initiation).
    case handshakeReplay
    /// An initiation arriving too soon after the previous one from that peer.
    case handshakeFlood
    /// A packet for a peer with no endpoint known yet.
    case noEndpoint
    /// The peer's queue of packets waiting for a handshake is full.
    case queueFull
    /// No such peer, or a peer whose public key is unusable.
    case unknownPeer
    /// The caller's buffer is too small for the sealed packet.
    case bufferTooSmall

    public var name: String {
        switch self {
        case .replay: "vpn-replay"
        case .authFailed: "vpn-auth-failed"
        case .sourceNotAllowed: "vpn-source-not-allowed"
        case .malformed: "vpn-malformed"
        case .malformedInner: "vpn-malformed-inner"
        case .unknownIndex: "vpn-unknown-index"
        case .keyExpired: "vpn-key-expired"
        case .badMac1: "vpn-bad-mac1"
        case .handshakeFailed: "vpn-handshake-failed"
        case .handshakeReplay: "vpn-handshake-replay"
        case .handshakeFlood: "vpn-handshake-flood"
        case .noEndpoint: "vpn-no-endpoint"
        case .queueFull: "vpn-queue-full"
        case .unknownPeer: "vpn-unknown-peer"
        case .bufferTooSmall: "vpn-buffer-too-small"
        }
    }
    public var description: String { name }
}

/// A datagram the interface wants sent (UDP payload; the caller adds UDP/IP from its listen address).
public struct WireGuardDatagram: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case initiation, response, cookieReply, transport, keepalive }
    public var bytes: [UInt8]
    public var endpoint: WireGuardEndpoint
    /// The peer it belongs to (nil for a cookie reply to an unauthenticated sender).
    public var peer: Int?
    public var kind: Kind
}

/// What `receive` made of a datagram.
public enum WireGuardReceiveResult: Sendable, Equatable {
    /// An authenticated inner packet from `peer`, decrypted in place: it is `datagram[plaintext]`, trimmed to
    /// the IP header's length (padding removed). Check `allows(peer:source:)` on its source before use.
    case transport(peer: Int, plaintext: Range<Int>)
    /// An authenticated keepalive (empty transport message) from `peer`.
    case keepalive(peer: Int)
    /// We are the responder: a valid initiation; send this response.
    case handshakeResponse(WireGuardDatagram)
    /// Under load, an initiation or response without a valid mac2: send this cookie reply instead.
    case cookieReply(WireGuardDatagram)
    /// We were the initiator: the session is up; send `datagrams` (the packets queued while waiting,
    /// or a keepalive confirming the session).
    case handshakeComplete(peer: Int, datagrams: [WireGuardDatagram])
    /// A cookie reply for our initiation was stored; the next retransmission carries mac2.
    case cookieReceived(peer: Int)
    case drop(WireGuardDropReason)
}

/// What `encrypt`/`send` did with an outgoing inner packet.
public enum WireGuardSendResult: Sendable, Equatable {
    /// Sealed in place: `buffer[0..<count]` is the transport datagram for `endpoint`.
    case sealed(count: Int, endpoint: WireGuardEndpoint)
    /// No session yet: the packet was queued and this initiation must be sent.
    case handshakeInitiation(WireGuardDatagram)
    /// No session yet and a handshake is already under way: the packet was queued.
    case queued
    case drop(WireGuardDropReason)
}

/// The secrets of one completed handshake, as the key log needs them.
public struct WireGuardHandshakeSecrets: Sendable, Equatable {
    public var peer: Int
    public var isInitiator: Bool
    /// The time (nanoseconds, the interface's clock) the session was derived.
    public var at: UInt64
    public var localStaticPrivate: WireGuardKey
    public var remoteStaticPublic: WireGuardKey
    public var localEphemeralPrivate: WireGuardKey
    public var presharedKey: WireGuardKey
}

/// Counters for `--trace` and report.json.
public struct WireGuardStats: Sendable, Equatable {
    public var initiationsSent = 0
    /// Initiations sent while a session already existed (rekeys), a subset of `initiationsSent`.
    public var rekeys = 0
    public var retransmissions = 0
    public var handshakesCompleted = 0       // as initiator
    public var handshakesResponded = 0       // as responder
    public var handshakesGivenUp = 0
    public var cookieRepliesSent = 0
    public var cookieRepliesReceived = 0
    public var transportSent = 0
    public var transportReceived = 0
    public var keepalivesSent = 0
    public var keepalivesReceived = 0
    public var sessionsExpired = 0
    /// Drops by `WireGuardDropReason.rawValue`.
    public var drops = [Int](repeating: 0, count: WireGuardDropReason.allCases.count)
    public init() {}
}

/// What is known of one peer, for tracing and tests.
public struct WireGuardPeerStatus: Sendable, Equatable {
    public var endpoint: WireGuardEndpoint?
    /// A session we can send on.
    public var hasSession: Bool
    /// A handshake we initiated is awaiting its response.
    public var handshakeInFlight: Bool
    public var lastHandshake: UInt64?
    public var sendCounter: UInt64?
    public var localIndex: UInt32?
    public var remoteIndex: UInt32?
    public var queued: Int
    public var holdsCookie: Bool
}

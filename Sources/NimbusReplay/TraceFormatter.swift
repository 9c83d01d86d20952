import NimbusDataplane
import NimbusWire

/// Turns the dataplane's compact trace records into lines like `ovn-trace` prints: one header per packet,
/// one indented line per stage decision.
public struct TraceFormatter: Sendable {
    public let portNames: [String]
    /// Per VPN tunnel: its name and its peers' public keys (base64).
    public let tunnels: [(name: String, peers: [String])]

    public init(portNames: [String], tunnels: [(name: String, peers: [String])] = []) {
        self.portNames = portNames
        self.tunnels = tunnels
    }

    /// "tunnel NAME peer KEY…" for trace lines (the key shortened as `wg show` does not, but logs do).
    func peer(_ t: UInt32, _ p: UInt32) -> String {
        guard Int(t) < tunnels.count else { return "tunnel \(t) peer \(p)" }
        let keys = tunnels[Int(t)].peers
        let key = Int(p) < keys.count ? String(keys[Int(p)].prefix(8)) + "…" : "\(p)"
        return "tunnel \(tunnels[Int(t)].name) peer \(key)"
    }

    func tunnel(_ t: UInt32) -> String {
        Int(t) < tunnels.count ? "tunnel \(tunnels[Int(t)].name)" : "tunnel \(t)"
    }

    func port(_ p: UInt32) -> String {
        Int(p) < portNames.count ? portNames[Int(p)] : "port \(p)"
    }

    public func line(_ r: TraceRecord) -> String {
        let stage = r.stage.name.padding(12)
        switch r.event {
        case .classified:
            let t = String(r.a, radix: 16)
            let kind = r.a == UInt32(EtherType.ipv4) ? "ipv4" : r.a == UInt32(EtherType.ipv6) ? "ipv6"
                : r.a == UInt32(EtherType.arp) ? "arp" : "0x" + t
            let proto = r.a == UInt32(EtherType.arp) ? "" : ", protocol \(r.b)"
            return "  \(stage)\(kind)\(proto)"
        case .dropped:
            let reason = DropReason(rawValue: UInt16(truncatingIfNeeded: r.a)) ?? .none
            return "  \(stage)DROP \(reason.name): \(reason.explanation)"
        case .sourceOK:
            return "  \(stage)source allowed"
        case .arpReplied:
            return "  \(stage)reply: \(IPv4Address(value: r.a)) is-at router MAC"
        case .routed:
            if r.a == 0 && r.b == 0 { return "  \(stage)no site prefix matches: to internet" }
            return "  \(stage)route /\(r.b) -> \(port(r.a))"
        case .lbBalanced:
            return "  \(stage)balanced to target \(IPv4Address(value: r.a)):\(r.b)"
        case .lbReplied:
            return "  \(stage)target's reply, from the VIP \(IPv4Address(value: r.a)):\(r.b)"
        case .natTranslated:
            let port = r.b == 0 ? "" : ":\(r.b)"
            return "  \(stage)translated to \(IPv4Address(value: r.a))\(port)"
        case .aclAllowed:
            return "  \(stage)allowed by the subnet ACLs"
        case .flowHit:
            let state = FlowState(rawValue: UInt8(truncatingIfNeeded: r.a)).map { "\($0)" } ?? "?"
            return "  \(stage)tracked flow (\(r.b == 1 ? "original" : "reply") direction), state \(state)"
        case .flowCreated:
            let state = FlowState(rawValue: UInt8(truncatingIfNeeded: r.a)).map { "\($0)" } ?? "?"
            return "  \(stage)new flow allowed by the security groups, state \(state)"
        case .related:
            return "  \(stage)ICMP error about a tracked flow: related, allowed"
        case .fragmentFollows:
            return "  \(stage)later fragment of an allowed datagram"
        case .toRouter:
            return "  \(stage)addressed to the router (\(IPv4Address(value: r.a)))"
        case .echoReplied:
            return "  \(stage)ICMP echo reply from \(IPv4Address(value: r.a))"
        case .sent:
            let ttl = r.b == 257 ? "sealed, outer ttl 64" : r.b > 255 ? "ttl unchanged (same subnet)" : "ttl -> \(r.b)"
            return "  \(stage)out \(port(r.a)), \(ttl)"
        case .intoTunnel:
            return "  \(stage)route /\(r.b) -> \(tunnel(r.a))"
        case .vpnDecrypted:
            return "  \(stage)decrypted from \(peer(r.a, r.b)); source within its allowed-ips"
        case .vpnKeepalive:
            return "  \(stage)keepalive from \(peer(r.a, r.b))"
        case .vpnResponded:
            return "  \(stage)handshake initiation from \(peer(r.a, r.b)): response sent"
        case .vpnHandshakeComplete:
            return "  \(stage)handshake response from \(peer(r.a, r.b)): session up"
        case .vpnCookieSent:
            return "  \(stage)\(tunnel(r.a)) under load: cookie reply sent instead of a handshake"
        case .vpnCookieReceived:
            return "  \(stage)cookie reply from \(peer(r.a, r.b)): kept for the next initiation"
        case .vpnSealed:
            return "  \(stage)sealed for \(peer(r.a, r.b))"
        case .vpnHeld:
            return "  \(stage)no session with \(peer(r.a, r.b)) yet: held, handshake initiation sent"
        case .vpnFragmented:
            return "  \(stage)larger than the MTU of \(tunnel(r.a)): split into \(r.b) fragments"
        case .vpnTimers:
            let initiations = r.b >> 16, others = r.b & 0xFFFF
            var what: [String] = []
            if initiations > 0 { what.append("\(initiations) handshake initiation\(initiations == 1 ? "" : "s") (rekey or retry)") }
            if others > 0 { what.append("\(others) keepalive or held packet\(others == 1 ? "" : "s")") }
            return "  \(stage)\(tunnel(r.a)) timers, just before this packet: sent " + what.joined(separator: ", ")
        case .icmpGenerated:
            return "  \(stage)sent ICMP type \(r.a) back to the source"
        }
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

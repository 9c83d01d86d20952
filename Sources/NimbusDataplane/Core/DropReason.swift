/// Why the dataplane did not forward a packet. The raw values index counter arrays; the names are the
/// stable kebab-case strings users see in `report.json`, `drops.pcapng` and traces.
public enum DropReason: UInt16, CaseIterable, Sendable, CustomStringConvertible {
    case none = 0
    // Names fixed by the product contract.
    case malformedIPv4
    case spoofedSource
    case ttlExceeded
    case sgIngressDenied
    case sgEgressDenied
    case ctInvalid
    case ctTableFull
    case natPortExhausted
    case lbNoHealthyTarget
    case vpnReplay
    case vpnAuthFailed
    case vpnSourceNotAllowed
    // Ours, named the same way.
    case malformedFrame
    case unsupportedL2
    case unsupportedEthertype
    case unsupportedLinkLayer
    case frameTooLarge
    case malformedARP
    case arpUnanswered
    case arpIgnored
    case malformedIPv6
    case ipv6NotRouted
    case malformedTCP
    case malformedUDP
    case malformedICMP
    case notUnicast
    case noRoute
    case forRouter
    case ctFragmentUnmatched
    case naclInboundDenied
    case naclOutboundDenied
    case natNoMapping
    case natFiltered
    case natUnsupportedProtocol
    case lbTargetDown
    case vpnMalformed
    case vpnMalformedInner
    case vpnUnknownIndex
    case vpnKeyExpired
    case vpnBadMac1
    case vpnHandshakeFailed
    case vpnHandshakeReplay
    case vpnHandshakeFlood
    case vpnNoEndpoint
    case vpnQueueFull
    case vpnUnknownPeer
    case vpnPacketTooBig
    case natTableFull
    case lbTableFull

    /// The stable name and a one-line meaning (for `nimbus drop-reasons`, `--trace` and the docs): the one
    /// place a reason is described. The switch is exhaustive, so a new case cannot go undescribed; the
    /// names are spelled out rather than derived from the case names, so renaming a case cannot change
    /// what users see.
    public var info: (name: String, meaning: String) {
        switch self {
        case .none:
            ("none", "not dropped")
        case .malformedIPv4:
            ("malformed-ipv4", "IPv4 header invalid: version, header length, total length or header checksum")
        case .spoofedSource:
            ("spoofed-source", "an instance sent from an IP or MAC that is not its own, or the internet sent from one of ours")
        case .ttlExceeded:
            ("ttl-exceeded", "TTL ran out on a routed hop; ICMP time exceeded was sent back")
        case .sgIngressDenied:
            ("sg-ingress-denied", "no ingress rule of the destination's security groups allows it")
        case .sgEgressDenied:
            ("sg-egress-denied", "no egress rule of the sender's security groups allows it")
        case .ctInvalid:
            ("ct-invalid", "TCP packet that fits no tracked connection")
        case .ctTableFull:
            ("ct-table-full", "the connection table is full; new flows are refused")
        case .natPortExhausted:
            ("nat-port-exhausted", "no free port on the NAT gateway for a new flow")
        case .lbNoHealthyTarget:
            ("lb-no-healthy-target", "the load balancer has no healthy target for a new flow")
        case .vpnReplay:
            ("vpn-replay", "WireGuard packet counter already seen or too old")
        case .vpnAuthFailed:
            ("vpn-auth-failed", "WireGuard packet failed authentication")
        case .vpnSourceNotAllowed:
            ("vpn-source-not-allowed", "decrypted packet's source is outside the peer's allowed-ips")
        case .malformedFrame:
            ("malformed-frame", "Ethernet frame shorter than its header")
        case .unsupportedL2:
            ("unsupported-l2", "more than one VLAN tag")
        case .unsupportedEthertype:
            ("unsupported-ethertype", "neither IPv4, IPv6 nor ARP")
        case .unsupportedLinkLayer:
            ("unsupported-link-layer", "capture record whose link-layer header cannot be turned into Ethernet")
        case .frameTooLarge:
            ("frame-too-large", "frame larger than a packet buffer")
        case .malformedARP:
            ("malformed-arp", "ARP packet that is not Ethernet/IPv4 or is truncated")
        case .arpUnanswered:
            ("arp-unanswered", "ARP request for an address the dataplane does not answer for")
        case .arpIgnored:
            ("arp-ignored", "ARP reply or announcement; the dataplane learns nothing from ARP")
        case .malformedIPv6:
            ("malformed-ipv6", "IPv6 header or extension-header chain invalid")
        case .ipv6NotRouted:
            ("ipv6-not-routed", "IPv6 packet; topologies have IPv4 addressing only")
        case .malformedTCP:
            ("malformed-tcp", "TCP header truncated or with a bad data offset")
        case .malformedUDP:
            ("malformed-udp", "UDP header truncated or with a bad length")
        case .malformedICMP:
            ("malformed-icmp", "ICMP header truncated")
        case .notUnicast:
            ("not-unicast", "broadcast, multicast or unspecified IPv4 address")
        case .noRoute:
            ("no-route", "no instance, subnet or internet route for the destination from this port")
        case .forRouter:
            ("for-router", "addressed to the dataplane itself, which only answers ICMP echo")
        case .ctFragmentUnmatched:
            ("ct-fragment-unmatched", "a later IPv4 fragment whose first fragment was not seen or not allowed")
        case .naclInboundDenied:
            ("nacl-inbound-denied", "the network ACL of the destination's subnet denies it (inbound)")
        case .naclOutboundDenied:
            ("nacl-outbound-denied", "the network ACL of the sender's subnet denies it (outbound)")
        case .natNoMapping:
            ("nat-no-mapping", "to a public NAT address and port that no instance holds (unsolicited, or expired)")
        case .natFiltered:
            ("nat-filtered", "to a NAT mapping from a remote the instance never sent to (address-and-port-dependent filtering)")
        case .natUnsupportedProtocol:
            ("nat-unsupported-protocol", "a protocol without ports cannot share a NAT gateway address")
        case .lbTargetDown:
            ("lb-target-down", "a packet of a load-balanced flow whose target is down; the client must reconnect")
        case .vpnMalformed:
            ("vpn-malformed", "to a tunnel's listen port, but not a WireGuard message (type, size or reserved bytes wrong)")
        case .vpnMalformedInner:
            ("vpn-malformed-inner", "decrypted WireGuard data that is not a whole IPv4 packet")
        case .vpnUnknownIndex:
            ("vpn-unknown-index", "WireGuard message for a receiver index that names no session of the tunnel")
        case .vpnKeyExpired:
            ("vpn-key-expired", "WireGuard data on a session older than REJECT-AFTER-TIME (180 s)")
        case .vpnBadMac1:
            ("vpn-bad-mac1", "WireGuard handshake message whose mac1 is wrong: not meant for this tunnel's key")
        case .vpnHandshakeFailed:
            ("vpn-handshake-failed", "WireGuard handshake that did not decrypt, or from a public key that is not a peer")
        case .vpnHandshakeReplay:
            ("vpn-handshake-replay", "WireGuard initiation whose timestamp is not newer than the peer's last one (a replayed initiation)")
        case .vpnHandshakeFlood:
            ("vpn-handshake-flood", "WireGuard initiation less than 20 ms after the peer's previous one")
        case .vpnNoEndpoint:
            ("vpn-no-endpoint", "for a tunnel peer whose endpoint is not configured and not yet learnt")
        case .vpnQueueFull:
            ("vpn-queue-full", "for a tunnel peer whose queue of packets waiting for a handshake is full (128)")
        case .vpnUnknownPeer:
            ("vpn-unknown-peer", "for a tunnel peer whose public key cannot be used (a low-order point)")
        case .vpnPacketTooBig:
            ("vpn-packet-too-big", "larger than the tunnel's MTU with don't-fragment set; ICMP fragmentation needed was sent back")
        case .natTableFull:
            ("nat-table-full", "the NAT gateway's mapping table is full; new flows through it are refused")
        case .lbTableFull:
            ("lb-table-full", "the load balancer's flow table is full; new flows to its VIPs are refused")
        }
    }

    /// The stable name.
    @inlinable public var name: String { info.name }

    /// One line for documentation and `--trace`: what the reason means.
    public var explanation: String { info.meaning }

    public var description: String { name }

    /// Looks a reason up by its stable name.
    public init?(name: String) {
        guard let r = DropReason.allCases.first(where: { $0.name == name }) else { return nil }
        self = r
    }

    public static let count = DropReason.allCases.count
}

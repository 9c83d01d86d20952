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

    /// The stable name.
    public var name: String {
        switch self {
        case .none: "none"
        case .malformedIPv4: "malformed-ipv4"
        case .spoofedSource: "spoofed-source"
        case .ttlExceeded: "ttl-exceeded"
        case .sgIngressDenied: "sg-ingress-denied"
        case .sgEgressDenied: "sg-egress-denied"
        case .ctInvalid: "ct-invalid"
        case .ctTableFull: "ct-table-full"
        case .natPortExhausted: "nat-port-exhausted"
        case .lbNoHealthyTarget: "lb-no-healthy-target"
        case .vpnReplay: "vpn-replay"
        case .vpnAuthFailed: "vpn-auth-failed"
        case .vpnSourceNotAllowed: "vpn-source-not-allowed"
        case .malformedFrame: "malformed-frame"
        case .unsupportedL2: "unsupported-l2"
        case .unsupportedEthertype: "unsupported-ethertype"
        case .unsupportedLinkLayer: "unsupported-link-layer"
        case .frameTooLarge: "frame-too-large"
        case .malformedARP: "malformed-arp"
        case .arpUnanswered: "arp-unanswered"
        case .arpIgnored: "arp-ignored"
        case .malformedIPv6: "malformed-ipv6"
        case .ipv6NotRouted: "ipv6-not-routed"
        case .malformedTCP: "malformed-tcp"
        case .malformedUDP: "malformed-udp"
        case .malformedICMP: "malformed-icmp"
        case .notUnicast: "not-unicast"
        case .noRoute: "no-route"
        case .forRouter: "for-router"
        case .ctFragmentUnmatched: "ct-fragment-unmatched"
        case .naclInboundDenied: "nacl-inbound-denied"
        case .naclOutboundDenied: "nacl-outbound-denied"
        case .natNoMapping: "nat-no-mapping"
        case .natFiltered: "nat-filtered"
        case .natUnsupportedProtocol: "nat-unsupported-protocol"
        case .lbTargetDown: "lb-target-down"
        case .vpnMalformed: "vpn-malformed"
        case .vpnMalformedInner: "vpn-malformed-inner"
        case .vpnUnknownIndex: "vpn-unknown-index"
        case .vpnKeyExpired: "vpn-key-expired"
        case .vpnBadMac1: "vpn-bad-mac1"
        case .vpnHandshakeFailed: "vpn-handshake-failed"
        case .vpnHandshakeReplay: "vpn-handshake-replay"
        case .vpnHandshakeFlood: "vpn-handshake-flood"
        case .vpnNoEndpoint: "vpn-no-endpoint"
        case .vpnQueueFull: "vpn-queue-full"
        case .vpnUnknownPeer: "vpn-unknown-peer"
        case .vpnPacketTooBig: "vpn-packet-too-big"
        }
    }

    /// One line for documentation and `--trace`: what the reason means.
    public var explanation: String {
        switch self {
        case .none: "not dropped"
        case .malformedIPv4: "IPv4 header invalid: version, header length, total length or header checksum"
        case .spoofedSource: "an instance sent from an IP or MAC that is not its own, or the internet sent from one of ours"
        case .ttlExceeded: "TTL ran out on a routed hop; ICMP time exceeded was sent back"
        case .sgIngressDenied: "no ingress rule of the destination's security groups allows it"
        case .sgEgressDenied: "no egress rule of the sender's security groups allows it"
        case .ctInvalid: "TCP packet that fits no tracked connection"
        case .ctTableFull: "the connection table is full; new flows are refused"
        case .natPortExhausted: "no free port on the NAT gateway for a new flow"
        case .lbNoHealthyTarget: "the load balancer has no healthy target for a new flow"
        case .vpnReplay: "WireGuard packet counter already seen or too old"
        case .vpnAuthFailed: "WireGuard packet failed authentication"
        case .vpnSourceNotAllowed: "decrypted packet's source is outside the peer's allowed-ips"
        case .malformedFrame: "Ethernet frame shorter than its header"
        case .unsupportedL2: "more than one VLAN tag"
        case .unsupportedEthertype: "neither IPv4, IPv6 nor ARP"
        case .unsupportedLinkLayer: "capture record whose link-layer header cannot be turned into Ethernet"
        case .frameTooLarge: "frame larger than a packet buffer"
        case .malformedARP: "ARP packet that is not Ethernet/IPv4 or is truncated"
        case .arpUnanswered: "ARP request for an address the dataplane does not answer for"
        case .arpIgnored: "ARP reply or announcement; the dataplane learns nothing from ARP"
        case .malformedIPv6: "IPv6 header or extension-header chain invalid"
        case .ipv6NotRouted: "IPv6 packet; topologies have IPv4 addressing only"
        case .malformedTCP: "TCP header truncated or with a bad data offset"
        case .malformedUDP: "UDP header truncated or with a bad length"
        case .malformedICMP: "ICMP header truncated"
        case .notUnicast: "broadcast, multicast or unspecified IPv4 address"
        case .noRoute: "no instance, subnet or internet route for the destination from this port"
        case .forRouter: "addressed to the dataplane itself, which only answers ICMP echo"
        case .ctFragmentUnmatched: "a later IPv4 fragment whose first fragment was not seen or not allowed"
        case .naclInboundDenied: "the network ACL of the destination's subnet denies it (inbound)"
        case .naclOutboundDenied: "the network ACL of the sender's subnet denies it (outbound)"
        case .natNoMapping: "to a public NAT address and port that no instance holds (unsolicited, or expired)"
        case .natFiltered: "to a NAT mapping from a remote the instance never sent to (address-and-port-dependent filtering)"
        case .natUnsupportedProtocol: "a protocol without ports cannot share a NAT gateway address"
        case .lbTargetDown: "a packet of a load-balanced flow whose target is down; the client must reconnect"
        case .vpnMalformed: "to a tunnel's listen port, but not a WireGuard message (type, size or reserved bytes wrong)"
        case .vpnMalformedInner: "decrypted WireGuard data that is not a whole IPv4 packet"
        case .vpnUnknownIndex: "WireGuard message for a receiver index that names no session of the tunnel"
        case .vpnKeyExpired: "WireGuard data on a session older than REJECT-AFTER-TIME (180 s)"
        case .vpnBadMac1: "WireGuard handshake message whose mac1 is wrong: not meant for this tunnel's key"
        case .vpnHandshakeFailed: "WireGuard handshake that did not decrypt, or from a public key that is not a peer"
        case .vpnHandshakeReplay: "WireGuard initiation whose timestamp is not newer than the peer's last one (a replayed initiation)"
        case .vpnHandshakeFlood: "WireGuard initiation less than 20 ms after the peer's previous one"
        case .vpnNoEndpoint: "for a tunnel peer whose endpoint is not configured and not yet learnt"
        case .vpnQueueFull: "for a tunnel peer whose queue of packets waiting for a handshake is full (128)"
        case .vpnUnknownPeer: "for a tunnel peer whose public key cannot be used (a low-order point)"
        case .vpnPacketTooBig: "larger than the tunnel's MTU with don't-fragment set; ICMP fragmentation needed was sent back"
        }
    }

    public var description: String { name }

    /// Looks a reason up by its stable name.
    public init?(name: String) {
        guard let r = DropReason.allCases.first(where: { $0.name == name }) else { return nil }
        self = r
    }

    public static let count = DropReason.allCases.count
}

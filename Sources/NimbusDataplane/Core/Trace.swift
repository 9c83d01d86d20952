/// The stages, as named in traces.
public enum StageID: UInt8, Sendable, CaseIterable {
    case ingress, classify, antiSpoof, arp, vpnIn, loadBalancer, natIn, router, networkACL, conntrack, natOut, vpnOut, local, egress

    public var name: String {
        switch self {
        case .ingress: "ingress"
        case .classify: "classify"
        case .antiSpoof: "anti-spoof"
        case .arp: "arp"
        case .router: "router"
        case .networkACL: "network-acl"
        case .natIn: "nat-in"
        case .loadBalancer: "lb"
        case .natOut: "nat-out"
        case .conntrack: "conntrack"
        case .vpnIn: "vpn-in"
        case .vpnOut: "vpn-out"
        case .local: "local"
        case .egress: "egress"
        }
    }
}

/// What a stage decided, in a trace record. Arguments `a` and `b` depend on the event (see `TraceFormatter`).
public enum TraceEvent: UInt8, Sendable {
    /// classify: a = ethertype, b = IP protocol (or 0).
    case classified
    /// any stage: a = drop reason; b = what decided, where the stage knows more: network-acl, the ACL
    /// and rule (`NetworkACLStage.decodeTraceDetail`); conntrack on `sg-ingress-denied` /
    /// `sg-egress-denied`, the port whose security groups refused it; router on `no-route`, the
    /// destination's network + 1 (0: none); lb, the load balancer + 1. Otherwise 0.
    case dropped
    /// anti-spoof: the source is one the port may use.
    case sourceOK
    /// arp: a = target IP answered for.
    case arpReplied
    /// router: a = out port, b = prefix length of the matching route.
    case routed
    /// router: a = destination (the dataplane's own address).
    case toRouter
    /// router: into VPN tunnel a, by a route of prefix length b.
    case intoTunnel
    /// vpn-in: transport data from tunnel a's peer b, decrypted; its source is allowed.
    case vpnDecrypted
    /// vpn-in: tunnel a's peer b sent a keepalive.
    case vpnKeepalive
    /// vpn-in: a handshake initiation from tunnel a's peer b, answered with a response.
    case vpnResponded
    /// vpn-in: the response to our initiation: tunnel a's session with peer b is up.
    case vpnHandshakeComplete
    /// vpn-in: under load, a handshake message answered with a cookie reply (a = tunnel).
    case vpnCookieSent
    /// vpn-in: a cookie reply from tunnel a's peer b, kept for the next initiation.
    case vpnCookieReceived
    /// vpn-out: sealed for tunnel a's peer b (a transport message to its endpoint).
    case vpnSealed
    /// vpn-out: no session with tunnel a's peer b yet: held, a handshake initiation was sent (or is under way).
    case vpnHeld
    /// vpn-out: split into b fragments to fit tunnel a's MTU.
    case vpnFragmented
    /// vpn-in: tunnel a's timers fired as this packet arrived and sent, just before it, b >> 16 handshake
    /// initiations (rekeys, retries) and b & 0xFFFF other messages (keepalives, released packets).
    case vpnTimers
    /// network-acl: the subnet ACLs on the way allow it; a = the sender's subnet ACL and the rule that
    /// allowed it, b = the receiver's (`NetworkACLStage.decodeTraceDetail`; 0 where no ACL applies).
    case aclAllowed
    /// conntrack: a packet of a tracked flow; a = flow state, b = 1 when from the originator.
    case flowHit
    /// conntrack: a new flow allowed by the rules; a = its state, b = the security group that allowed it
    /// out (index + 1, in the high 16 bits; 0 from the internet) and in (low 16 bits; 0 to the internet).
    case flowCreated
    /// conntrack: an ICMP error about a tracked flow.
    case related
    /// conntrack: a later fragment of an allowed datagram.
    case fragmentFollows
    /// lb: a client packet sent to target a, port b.
    case lbBalanced
    /// lb: a target's reply, now from VIP a, port b.
    case lbReplied
    /// nat-in / nat-out: a = the new address, b = the new port (0 when unchanged).
    case natTranslated
    /// local: a = the address that answered the echo.
    case echoReplied
    /// egress: a = out port, b = new TTL (or 256 when not decremented).
    case sent
    /// egress: a = ICMP type, b = the index of the generated packet.
    case icmpGenerated
}

/// One trace line in compact form: the stages write these (no strings, no allocation), the CLI formats
/// them after the batch.
public struct TraceRecord: Sendable, Equatable {
    public var packet: UInt16
    public var stage: StageID
    public var event: TraceEvent
    public var a: UInt32
    public var b: UInt32
}

/// Where trace records go. Tracing is on for batch packets whose index is below `limit`; the buffer's
/// capacity is reserved up front so recording never grows it inside the loop.
public struct TraceLog: Sendable {
    public private(set) var records: [TraceRecord] = []
    /// Packets of the current batch with an index below this are traced.
    public var limit = 0

    public init() {
        records.reserveCapacity(PacketBatch.metaCapacity * 8)
    }


    public mutating func record(_ packet: Int, _ stage: StageID, _ event: TraceEvent, _ a: UInt32 = 0,
                                _ b: UInt32 = 0) {
        guard packet < limit, records.count < records.capacity else { return }
        records.append(TraceRecord(packet: UInt16(packet), stage: stage, event: event, a: a, b: b))
    }

    public mutating func clear() { records.removeAll(keepingCapacity: true) }
}

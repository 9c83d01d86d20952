import NimbusWire

/// Connection tracking with stateful security groups (AWS semantics). The first packet of a flow is
/// classified against the sender's egress and the receiver's ingress rules; if allowed, the flow is
/// tracked and every later packet of it — in either direction — passes without classification. ICMP
/// errors about a tracked flow pass as related; later fragments follow their first fragment.
///
/// Reads: IPv4 and L4 headers, ports chosen by the router. Writes: the flow table.
/// Drops: `ct-invalid` (TCP that fits no flow, e.g. a stray ACK or SYN-ACK; an ICMP error or echo reply
/// about nothing tracked), `sg-egress-denied`, `sg-ingress-denied`, `ct-table-full`,
/// `ct-fragment-unmatched`.
public struct ConntrackStage: ~Copyable {
    public var table: FlowTable<FlowKey, FlowEntry>
    private var fragments = FragmentCache()
    /// Read in place on a flow's first packet only: binding it to a local would retain its arrays on
    /// every packet.
    private let policy: SecurityPolicy
    private let enabled: Bool
    private let loose: Bool
    /// Flows made, and flows ended by their timeout, so far.
    public var created: UInt64 { table.entries.created }
    public var expired: UInt64 { table.entries.expired }

    public init(firewall: FirewallConfig?) {
        let capacity = firewall?.maxFlows ?? 1
        table = FlowTable(capacity: capacity, wheelSlots: 8192)
        policy = SecurityPolicy(firewall ?? FirewallConfig(groups: [], portGroups: []))
        enabled = firewall != nil
        loose = firewall?.loosePickup ?? false
    }

    /// Forgets every flow, as if new.
    public mutating func reset() {
        table.reset()
        fragments.reset()
    }

    /// True when a live flow has this key (NAT's address-and-port-dependent filtering asks).
    public func hasLiveFlow(_ key: FlowKey, now: UInt64) -> Bool {
        guard enabled else { return true }
        return liveFlow(key, now: now) != nil
    }

    /// The entry index of `key` when its flow is tracked and not idle past its timeout.
    @inline(__always)
    public func liveFlow(_ key: FlowKey, now: UInt64) -> Int? {
        guard let e = table.find(key) else { return nil }
        return now < Self.deadline(table[e]) ? e : nil
    }

    /// When an idle flow is gone: its last packet plus the timeout of its state.
    @inline(__always)
    static func deadline(_ entry: FlowEntry) -> UInt64 {
        entry.lastSeen + timeout(entry.state, entry.key.protocolNumber)
    }

    /// Whether tracking is on (a NAT filter then asks it about flows).
    public var isEnabled: Bool { enabled }

    // Linux conntrack's default timeouts, in nanoseconds.
    static let second: UInt64 = 1_000_000_000
    @inline(__always)
    static func timeout(_ state: FlowState, _ proto: UInt8) -> UInt64 {
        switch state {
        case .synSent: 120 * second
        case .synReceived: 60 * second
        case .established: 432_000 * second
        case .finWait: 120 * second
        case .timeWait: 120 * second
        case .closed: 10 * second
        case .unreplied: proto == IPProtocol.udp ? 30 * second : proto == IPProtocol.icmp ? 30 * second : 600 * second
        case .replied: proto == IPProtocol.udp ? 180 * second : proto == IPProtocol.icmp ? 30 * second : 600 * second
        }
    }

    /// Expires what is due before the batch's first packet.
    public mutating func beginBatch(_ batch: borrowing PacketBatch, _ ctx: inout StageContext) {
        guard enabled && batch.inputCount > 0 else { return }
        expireDue(now: batch.meta[0].timestamp, &ctx)
        prefetch(batch)
    }

    /// Two passes over the batch before any packet is tracked: the home slot of every TCP/UDP packet's
    /// key, then the entries those slots name, so the per-packet lookups find both lines in cache
    /// instead of waiting on memory one packet at a time (what costs most with a million flows). Keys
    /// are taken as the packets arrived; those a NAT or load balancer will rewrite just miss the hint.
    @inline(__always)
    private func prefetch(_ batch: borrowing PacketBatch) {
        let n = batch.inputCount
        guard table.count > 4096 else { return }   // a small table is in cache anyway
        for pass in 0..<2 {
            for i in 0..<n {
                guard let t = batch.portTuple(i) else { continue }
                let (key, _) = FlowKey.canonical(protocol: t.proto, source: t.source, sourcePort: t.sourcePort,
                                                 destination: t.destination, destinationPort: t.destinationPort)
                if pass == 0 { table.prefetchSlot(key) } else { table.prefetchEntry(key) }
            }
        }
    }

    /// For stages that rewrite a packet before it is tracked (NAT inbound, load balancing): starts loading
    /// the flow-table slot (`entry: false`) or, once that slot is in, the entry of the key the packet will
    /// be tracked under. The batch prefetch above only knows the keys packets arrive with.
    @inline(__always)
    public func prefetch(_ key: FlowKey, entry: Bool) {
        guard enabled && table.count > 4096 else { return }
        if entry { table.prefetchEntry(key) } else { table.prefetchSlot(key) }
    }

    /// Expires what is due by `now` (no packet needed).
    public mutating func expire(now: UInt64, _ ctx: inout StageContext) {
        if enabled { expireDue(now: now, &ctx) }
    }

    /// Tracks one pending packet (and classifies it when it opens a flow).
    @inline(__always)
    public mutating func handle(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        guard enabled else { return }
        let m = batch.meta[i]
        guard m.etherType == EtherType.ipv4 && m.outPort != RouterStage.localDelivery else { return }
        let reason = track(&batch, i, &ctx)
        if reason != .none {
            batch.drop(i, reason)
            // For a security-group refusal, the port whose groups refused it (the sender's for egress, the
            // receiver's for ingress), so the trace can name the groups.
            let port: UInt16 = reason == .sgEgressDenied ? m.inPort : reason == .sgIngressDenied ? m.outPort : 0
            ctx.trace.record(i, .conntrack, .dropped, UInt32(reason.rawValue), UInt32(port))
        }
    }

    /// Expires flows whose timers are due by `now` (the wheel only reminds; the flow's own last-seen
    /// time decides).
    private mutating func expireDue(now: UInt64, _ ctx: inout StageContext) {
        table.entries.expire(now: now) { Self.deadline($0) }
        for k in 0..<table.entries.expiredCount {
            remove(table.entries.expiredEntry(k), reason: .expired, &ctx)
        }
    }

    /// Ends a flow found expired or closed on use (the timer-driven ones are counted by the table).
    private mutating func end(_ e: Int, reason: FlowRecord.End, _ ctx: inout StageContext) {
        if reason == .expired { table.entries.countExpired() }
        remove(e, reason: reason, &ctx)
    }

    private mutating func remove(_ e: Int, reason: FlowRecord.End, _ ctx: inout StageContext) {
        let entry = table[e]
        if ctx.flowLog.enabled { ctx.flowLog.append(FlowRecord(entry, end: reason)) }
        table.remove(e, key: entry.key)
    }

    @inline(__always)
    private mutating func track(_ batch: inout PacketBatch, _ i: Int,
                                _ ctx: inout StageContext) -> DropReason {
        let m = batch.meta[i]
        let now = m.timestamp
        let frame = batch.bytes(i)
        let ip = IPv4Header(unchecked: frame.suffix(from: Int(m.l3Offset)))
        let src = ip.source.value, dst = ip.destination.value
        let proto = m.ipProtocol
        let id = ip.identification
        let firstFragment = ip.moreFragments  // more fragments, offset 0 (hasL4 below)
        guard m.hasL4 else {
            if fragments.isAllowed(source: src, destination: dst, protocol: proto, id: id, now: now) {
                ctx.trace.record(i, .conntrack, .fragmentFollows)
                return .none
            }
            return .ctFragmentUnmatched
        }
        let l4 = frame.suffix(from: Int(m.l4Offset))
        var sport: UInt16 = 0, dport: UInt16 = 0, service: UInt16 = 0
        var tcpFlags: UInt8 = 0
        switch proto {
        case IPProtocol.tcp, IPProtocol.udp:
            let ports = TransportPortsView(unchecked: l4)
            sport = ports.sourcePort
            dport = ports.destinationPort
            service = dport
            if proto == IPProtocol.tcp { tcpFlags = TCPHeader(unchecked: l4).flags }
        case IPProtocol.icmp:
            let icmp = ICMPHeader(unchecked: l4)
            service = UInt16(icmp.type) << 8 | UInt16(icmp.code)
            if icmp.isEcho {
                sport = icmp.identifier
                dport = sport
            } else if icmp.isError {
                return related(l4, i, &ctx)
            }
        default:
            break
        }
        let (key, reversed) = FlowKey.canonical(protocol: proto, source: src, sourcePort: sport,
                                                destination: dst, destinationPort: dport)
        // The NAT may have found this very flow a moment ago (its filtering check): no second probe.
        let hint = Int(m.flowHint) - 1
        if let e = hint >= 0 && table[hint].key == key ? hint : table.find(key) {
            let entry = table[e]
            let alive = now < entry.lastSeen + Self.timeout(entry.state, proto)
            let isOriginal = reversed == entry.originIsB
            let reopening = proto == IPProtocol.tcp && isOriginal && tcpFlags & (TCPHeader.syn | TCPHeader.ack) == TCPHeader.syn
                && (entry.state == .timeWait || entry.state == .closed)
            if alive && !reopening {
                update(e, isOriginal: isOriginal, tcpFlags: tcpFlags, bytes: Int(m.length), now: now)
                if firstFragment { fragments.allow(source: src, destination: dst, protocol: proto, id: id, now: now) }
                ctx.trace.record(i, .conntrack, .flowHit, UInt32(table[e].state.rawValue), isOriginal ? 1 : 0)
                return .none
            }
            end(e, reason: alive ? .closed : .expired, &ctx)
        }
        // A new flow: only what may open one, and only what the rules allow.
        var state = FlowState.unreplied
        if proto == IPProtocol.tcp {
            let syn = tcpFlags & (TCPHeader.syn | TCPHeader.ack | TCPHeader.rst | TCPHeader.fin) == TCPHeader.syn
            if syn {
                state = .synSent
            } else if loose && tcpFlags & TCPHeader.rst == 0 {
                state = .established
            } else {
                return .ctInvalid
            }
        } else if proto == IPProtocol.icmp && ICMPHeader(unchecked: l4).type == ICMPHeader.echoReply && !loose {
            return .ctInvalid
        }
        // The groups that allowed it, for the trace: index + 1, 0 when that side is the internet.
        var egressGroup = 0, ingressGroup = 0
        if m.inPort != DataplaneConfig.internetPort {
            egressGroup = policy.egressGroup(port: m.inPort, protocol: proto, servicePort: service,
                                             remote: IPv4Address(value: dst)) + 1
            if egressGroup == 0 { return .sgEgressDenied }
        }
        if m.outPort != DataplaneConfig.internetPort {
            ingressGroup = policy.ingressGroup(port: m.outPort, protocol: proto, servicePort: service,
                                               remote: IPv4Address(value: src)) + 1
            if ingressGroup == 0 { return .sgIngressDenied }
        }
        let entry = FlowEntry(key: key, created: now, lastSeen: now, bytes: UInt64(m.length), packetsOriginal: 1,
                              packetsReply: 0, state: state, originIsB: reversed, flags: 0,
                              originPort: m.inPort, responderPort: m.outPort)
        guard table.insert(key, entry, deadline: now + Self.timeout(state, proto)) != nil else { return .ctTableFull }
        if firstFragment { fragments.allow(source: src, destination: dst, protocol: proto, id: id, now: now) }
        ctx.trace.record(i, .conntrack, .flowCreated, UInt32(state.rawValue), UInt32(egressGroup) << 16 | UInt32(ingressGroup))
        return .none
    }

    /// Follows a packet of a tracked flow through the TCP state machine (after Linux conntrack, reduced
    /// to what decides timeouts) and counts it.
    @inline(__always)
    private mutating func update(_ e: Int, isOriginal: Bool, tcpFlags f: UInt8, bytes: Int, now: UInt64) {
        var entry = table[e]
        entry.lastSeen = now
        entry.bytes &+= UInt64(bytes)
        if isOriginal { entry.packetsOriginal &+= 1 } else {
            entry.packetsReply &+= 1
            entry.flags |= FlowEntry.seenReply
        }
        if entry.key.protocolNumber == IPProtocol.tcp {
            if f & TCPHeader.rst != 0 {
                entry.state = .closed
            } else {
                switch entry.state {
                case .synSent where !isOriginal && f & (TCPHeader.syn | TCPHeader.ack) == TCPHeader.syn | TCPHeader.ack:
                    entry.state = .synReceived
                case .synReceived where isOriginal && f & (TCPHeader.syn | TCPHeader.ack) == TCPHeader.ack:
                    entry.state = .established
                default:
                    break
                }
                if f & TCPHeader.fin != 0 {
                    entry.flags |= isOriginal ? FlowEntry.finOriginal : FlowEntry.finReply
                    let both = FlowEntry.finOriginal | FlowEntry.finReply
                    entry.state = entry.flags & both == both ? .timeWait : .finWait
                }
            }
        } else if !isOriginal {
            entry.state = .replied
        }
        table[e] = entry
    }

    /// An ICMP error passes when the datagram it quotes belongs to a tracked flow. The quoted header's
    /// total length is the original datagram's, longer than what is quoted, so it is read field by field.
    @inline(__always)
    private func related(_ icmp: RawBytes, _ i: Int, _ ctx: inout StageContext) -> DropReason {
        guard let quoted = QuotedIPv4Datagram(icmpMessage: icmp, minimumPayload: 0) else { return .ctInvalid }
        let proto = quoted.protocol
        let l4 = quoted.payload
        var sport: UInt16 = 0, dport: UInt16 = 0
        if proto == IPProtocol.tcp || proto == IPProtocol.udp {
            guard let ports = try? TransportPortsView(l4) else { return .ctInvalid }
            sport = ports.sourcePort
            dport = ports.destinationPort
        } else if proto == IPProtocol.icmp {
            guard let echo = try? ICMPHeader(l4) else { return .ctInvalid }
            sport = echo.identifier
            dport = sport
        }
        let (key, _) = FlowKey.canonical(protocol: proto, source: quoted.source, sourcePort: sport,
                                         destination: quoted.destination, destinationPort: dport)
        guard table.find(key) != nil else { return .ctInvalid }
        ctx.trace.record(i, .conntrack, .related)
        return .none
    }
}

/// What the pipeline has decided for a packet so far.
public enum Verdict: UInt8, Sendable {
    /// Still travelling through the stages.
    case pending
    /// Leaves on `outPort`.
    case forward
    /// Dropped with `drop` as the reason.
    case drop
    /// Taken by the dataplane itself and not forwarded as it is: a WireGuard handshake or keepalive that
    /// ended here, or an inner packet held for a tunnel until its handshake completes (it leaves later,
    /// sealed, as a generated packet).
    case consumed
}

/// Per-packet metadata, kept beside (not inside) the packet bytes, as VPP keeps its buffer metadata.
/// Offsets are relative to the frame start.
public struct PacketMeta: Sendable {
    /// Frame start within the batch arena.
    public var offset: UInt32
    public var length: UInt32
    /// Allocation bounds within the arena: [start, end). Headroom is offset - start.
    public var allocStart: UInt32
    public var allocEnd: UInt32
    /// Capture time in nanoseconds.
    public var timestamp: UInt64
    public var inPort: UInt16
    public var outPort: UInt16
    public var verdict: Verdict
    public var ipProtocol: UInt8
    public var drop: DropReason
    public var etherType: UInt16
    public var l3Offset: UInt16
    public var l4Offset: UInt16
    /// Index of the first packet the pipeline generated in answer to this one (an ICMP error, a WireGuard
    /// message), or `noChild`. A generated packet's own `child` links the next one of the same parent.
    public var child: UInt16
    /// Index of the first packet generated just before this one (what the VPN's timers sent when this
    /// packet's arrival moved the clock), chained through `child`; or `noChild`.
    public var before: UInt16
    /// For a packet decrypted out of a tunnel: that tunnel's index + 1 (0: not from a tunnel).
    public var fromTunnel: UInt8
    /// For a packet the router sent into a tunnel: that tunnel's index + 1 (0: not into a tunnel).
    public var toTunnel: UInt8
    /// The flow-table entry (index + 1) a stage before conntrack already found for this packet (the NAT's
    /// filtering check), so conntrack need not look it up again; 0: none.
    public var flowHint: UInt32
    /// Set by the router: the hop crosses a router boundary, so TTL is decremented.
    public var routed: Bool
    /// The first fragment or an unfragmented datagram: the L4 header is present.
    public var hasL4: Bool
    /// The source is a private address that must be translated on the way out (NAT gateway, elastic
    /// IP, or a hairpin through one).
    public var snat: Bool
    /// The destination was a public NAT address or a VIP, rewritten to the instance behind it.
    public var dnat: Bool
    /// A load-balancer target's reply, to leave from the VIP (set with `lbFlow`).
    public var lbReply: Bool
    /// The load-balancer flow (index + 1) the packet belongs to; 0 for none.
    public var lbFlow: UInt32

    public static let noChild: UInt16 = .max
}

/// The metadata of a batch's packets. Reading needs only the batch; writing needs it `inout` (the
/// setter is `mutating`, though it writes through to storage the batch owns), so a stage's signature
/// says whether it decides or rewrites packets. Indices are checked in debug builds.
public struct PacketMetaTable {
    @usableFromInline let storage: UnsafeMutablePointer<PacketMeta>
    @usableFromInline let capacity: Int

    @inlinable init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    @inlinable public subscript(i: Int) -> PacketMeta {
        get {
            assert(i >= 0 && i < capacity, "packet index out of the batch")
            return storage[i]
        }
        _modify {
            assert(i >= 0 && i < capacity, "packet index out of the batch")
            yield &storage[i]
        }
    }

    func deallocate() { storage.deallocate() }
}

/// A vector of packets processed together by every stage, with all bytes in one arena.
///
/// Packets are appended by the I/O side (replay, bench, live), processed in place by the stages, then
/// drained. Each packet gets `headroom` bytes in front (to prepend headers without moving the payload)
/// and `tailroom` behind. Stages may also generate packets (ICMP errors); those live in the same batch
/// after the inputs. All memory is allocated once, in `init`.
public struct PacketBatch: ~Copyable {
    /// Input packets per batch, as VPP's frame size.
    public static let inputCapacity = 256
    /// Inputs plus packets the stages may generate (at most one each).
    public static let metaCapacity = 2 * inputCapacity
    public static let headroom = 64
    public static let tailroom = 64

    @usableFromInline let arena: UnsafeMutableRawPointer
    public let arenaSize: Int
    @usableFromInline var arenaUsed = 0
    /// Per-packet metadata; writing it needs the batch `inout`.
    public var meta: PacketMetaTable
    public private(set) var count = 0
    public private(set) var inputCount = 0
    /// First of the packets generated with no input to follow (timer output on an idle dataplane),
    /// chained through `child`; they leave before everything else.
    public private(set) var leadHead = PacketMeta.noChild

    /// - Parameter arenaSize: bytes for all packet data of one batch; a batch closes early when full.
    public init(arenaSize: Int = 1 << 20) {
        self.arenaSize = arenaSize
        arena = .allocate(byteCount: arenaSize, alignment: 64)
        meta = PacketMetaTable(capacity: PacketBatch.metaCapacity)
    }

    deinit {
        arena.deallocate()
        meta.deallocate()
    }

    /// The largest frame a batch accepts.
    public var maximumFrame: Int { arenaSize - PacketBatch.headroom - PacketBatch.tailroom }

    public var isFull: Bool { inputCount >= PacketBatch.inputCapacity }

    /// Empties the batch for reuse.
    public mutating func reset() {
        count = 0
        inputCount = 0
        arenaUsed = 0
        leadHead = PacketMeta.noChild
    }

    /// True when a frame of `length` bytes fits in what is left of the arena.
    public func canAppend(length: Int) -> Bool {
        inputCount < PacketBatch.inputCapacity && count == inputCount
            && arenaUsed + PacketBatch.headroom + length + PacketBatch.tailroom <= arenaSize
    }

    /// Reserves room for an input frame of `length` bytes and returns its index; the caller fills
    /// `bytes(index)`. Inputs must all be appended before the stages run.
    public mutating func appendInput(length: Int, timestamp: UInt64, port: UInt16) -> Int {
        precondition(canAppend(length: length), "appendInput without canAppend")
        let i = count
        let start = arenaUsed
        let end = start + PacketBatch.headroom + length + PacketBatch.tailroom
        meta[i] = PacketMeta(
            offset: UInt32(start + PacketBatch.headroom), length: UInt32(length),
            allocStart: UInt32(start), allocEnd: UInt32(end), timestamp: timestamp,
            inPort: port, outPort: 0, verdict: .pending, ipProtocol: 0, drop: .none, etherType: 0,
            l3Offset: 0, l4Offset: 0, child: PacketMeta.noChild, before: PacketMeta.noChild, fromTunnel: 0, toTunnel: 0, flowHint: 0, routed: false, hasL4: false, snat: false, dnat: false, lbReply: false, lbFlow: 0)
        arenaUsed = (end + 15) & ~15
        count += 1
        inputCount += 1
        return i
    }

    /// Copies a frame in (the one copy of the I/O boundary, like a NIC's DMA). Returns nil when full.
    public mutating func append(_ frame: UnsafeRawBufferPointer, timestamp: UInt64, port: UInt16) -> Int? {
        guard canAppend(length: frame.count) else { return nil }
        let i = appendInput(length: frame.count, timestamp: timestamp, port: port)
        if frame.count > 0, let src = frame.baseAddress {
            (arena + Int(meta[i].offset)).copyMemory(from: src, byteCount: frame.count)
        }
        return i
    }

    /// Allocates a packet generated in answer to packet `parent` (linked after its other children, so it
    /// is emitted right after it). Returns nil when the batch has no room; the answer is then not sent.
    public mutating func generate(from parent: Int, length: Int) -> Int? {
        guard let g = allocateGenerated(parent: parent, length: length) else { return nil }
        var head = meta[parent].child
        link(g, after: &head)
        meta[parent].child = head
        return g
    }

    /// Allocates a packet generated just before input `next` is handled (emitted before it, with its
    /// timestamp): what timers send when `next`'s arrival moves the clock. Nil when the batch is full.
    public mutating func generate(before next: Int, length: Int) -> Int? {
        guard let g = allocateGenerated(parent: next, length: length) else { return nil }
        var head = meta[next].before
        link(g, after: &head)
        meta[next].before = head
        return g
    }

    /// Allocates a packet generated with no input around it (what timers send while no traffic flows),
    /// stamped `timestamp`; it leaves before the batch's inputs. Nil when the batch is full.
    public mutating func generateLead(length: Int, timestamp: UInt64) -> Int? {
        guard let i = allocateGenerated(length: length, timestamp: timestamp, inPort: 0) else { return nil }
        var head = leadHead
        link(i, after: &head)
        leadHead = head
        return i
    }

    private mutating func allocateGenerated(parent: Int, length: Int) -> Int? {
        allocateGenerated(length: length, timestamp: meta[parent].timestamp, inPort: meta[parent].inPort)
    }

    private mutating func allocateGenerated(length: Int, timestamp: UInt64, inPort: UInt16) -> Int? {
        guard count < PacketBatch.metaCapacity,
              arenaUsed + PacketBatch.headroom + length + PacketBatch.tailroom <= arenaSize else { return nil }
        let i = count
        let start = arenaUsed
        let end = start + PacketBatch.headroom + length + PacketBatch.tailroom
        meta[i] = PacketMeta(
            offset: UInt32(start + PacketBatch.headroom), length: UInt32(length),
            allocStart: UInt32(start), allocEnd: UInt32(end), timestamp: timestamp,
            inPort: inPort, outPort: 0, verdict: .pending, ipProtocol: 0, drop: .none,
            etherType: 0, l3Offset: 0, l4Offset: 0, child: PacketMeta.noChild, before: PacketMeta.noChild, fromTunnel: 0, toTunnel: 0, flowHint: 0, routed: false, hasL4: false, snat: false, dnat: false, lbReply: false, lbFlow: 0)
        arenaUsed = (end + 15) & ~15
        count += 1
        return i
    }

    /// Appends generated packet `g` to the chain that starts at `head`.
    private mutating func link(_ g: Int, after head: inout UInt16) {
        if head == PacketMeta.noChild { head = UInt16(g); return }
        var k = Int(head)
        while meta[k].child != PacketMeta.noChild { k = Int(meta[k].child) }
        meta[k].child = UInt16(g)
    }

    /// Every packet of the batch once, in the order they leave: for each input, what was generated before
    /// it, the input, then what was generated in answer to it. `order` is cleared and refilled (keep one
    /// array with capacity `metaCapacity` so this never allocates).
    public func emissionOrder(into order: inout [Int]) {
        order.removeAll(keepingCapacity: true)
        appendLeads(to: &order)
        for i in 0..<inputCount { appendEmission(ofInput: i, to: &order) }
    }

    /// Appends the packets generated with no input around them (`generateLead`), in the order they leave.
    public func appendLeads(to order: inout [Int]) {
        var lead = leadHead
        while lead != PacketMeta.noChild { order.append(Int(lead)); lead = meta[Int(lead)].child }
    }

    /// Appends input `i` with what was generated before it and in answer to it, in the order they leave.
    /// (Several workers' batches are emitted this way, input by input in arrival order.)
    public func appendEmission(ofInput i: Int, to order: inout [Int]) {
        var k = meta[i].before
        while k != PacketMeta.noChild { order.append(Int(k)); k = meta[Int(k)].child }
        order.append(i)
        k = meta[i].child
        while k != PacketMeta.noChild { order.append(Int(k)); k = meta[Int(k)].child }
    }

    /// The addresses and ports of packet `i` when it is a pending IPv4 TCP or UDP packet whose transport
    /// header is present: what the stateful stages' batch prefetches key their tables on.
    @inline(__always)
    public func portTuple(_ i: Int) -> (proto: UInt8, source: UInt32, sourcePort: UInt16, destination: UInt32, destinationPort: UInt16)? {
        let m = meta[i]
        guard m.verdict == .pending, m.etherType == EtherType.ipv4, m.hasL4,
              m.ipProtocol == IPProtocol.tcp || m.ipProtocol == IPProtocol.udp else { return nil }
        let frame = bytes(i)
        let ip = IPv4Header(unchecked: frame.suffix(from: Int(m.l3Offset)))
        let ports = TransportPortsView(unchecked: frame.suffix(from: Int(m.l4Offset)))
        return (m.ipProtocol, ip.source.value, ports.sourcePort, ip.destination.value, ports.destinationPort)
    }

    /// The bytes of packet `i`'s frame.
    @inlinable
    public func bytes(_ i: Int) -> RawBytes {
        assert(i >= 0 && i < count, "packet index out of the batch")
        return RawBytes(base: arena + Int(meta[i].offset), count: Int(meta[i].length))
    }

    /// Grows the frame at the front by `n` bytes of headroom (to prepend a header). Returns false when
    /// there is not enough headroom.
    @discardableResult
    public mutating func prepend(_ i: Int, _ n: Int) -> Bool {
        guard Int(meta[i].offset) - n >= Int(meta[i].allocStart) else { return false }
        meta[i].offset -= UInt32(n)
        meta[i].length += UInt32(n)
        return true
    }

    /// Removes `n` bytes from the front of the frame (a header being stripped). `n <= length`.
    public mutating func trimFront(_ i: Int, _ n: Int) {
        let k = UInt32(min(n, Int(meta[i].length)))
        meta[i].offset += k
        meta[i].length -= k
    }

    /// Sets the frame length; it may grow into the tailroom. Returns false when that does not fit.
    @discardableResult
    public mutating func setLength(_ i: Int, _ length: Int) -> Bool {
        guard Int(meta[i].offset) + length <= Int(meta[i].allocEnd) else { return false }
        meta[i].length = UInt32(length)
        return true
    }

    /// Marks packet `i` dropped with `reason`, replacing whatever was decided before.
    @inlinable
    public mutating func drop(_ i: Int, _ reason: DropReason) {
        meta[i].verdict = .drop
        meta[i].drop = reason
    }

    /// Marks packet `i` to leave on `port`.
    @inlinable
    public mutating func forward(_ i: Int, to port: UInt16) {
        meta[i].verdict = .forward
        meta[i].outPort = port
    }
}

import NimbusWire

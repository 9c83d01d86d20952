import CNetlink
import NimbusDataplane
#if canImport(Glibc)
import Glibc
#endif

/// One dataplane port on a real link: an AF_PACKET socket bound to the root-side end of a veth, with a
/// TPACKET_V3 memory-mapped receive ring (the kernel fills blocks of frames; we copy them into a batch
/// and hand each block back) and plain `send` for transmission.
final class PacketPort {
    let name: String
    let port: UInt16
    let fd: Int32
    private let ring: UnsafeMutableRawPointer
    private let blockSize = 1 << 20
    private let blockCount = 8
    private var block = 0
    /// Position inside the current block when a batch filled up half way through it.
    private var packetInBlock = 0
    private var offsetInBlock = 0
    private(set) var sendErrors: UInt64 = 0
    /// Frames queued by `enqueue` (pointers into the current batch), sent by `flush` with one sendmmsg.
    private static let sendCapacity = 512
    private let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: PacketPort.sendCapacity)
    private let messages = UnsafeMutablePointer<nimbus_mmsghdr>.allocate(capacity: PacketPort.sendCapacity)
    private var queued = 0

    init(interface: String, port: UInt16) throws(LiveError) {
        name = interface
        self.port = port
        let s = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(UInt16(ETH_P_ALL).bigEndian))
        guard s >= 0 else { throw LiveError("packet socket on \(interface): \(errnoText())") }
        fd = s
        var version = Int32(nimbus_tpacket_v3())
        guard setsockopt(s, SOL_PACKET, PACKET_VERSION, &version, 4) == 0 else {
            close(s); throw LiveError("TPACKET_V3 on \(interface): \(errnoText())")
        }
        var req = tpacket_req3()
        req.tp_block_size = UInt32(blockSize)
        req.tp_block_nr = UInt32(blockCount)
        req.tp_frame_size = 2048
        req.tp_frame_nr = UInt32(blockSize / 2048 * blockCount)
        req.tp_retire_blk_tov = 1  // ms: hand partly filled blocks over quickly
        guard setsockopt(s, SOL_PACKET, PACKET_RX_RING, &req, socklen_t(MemoryLayout<tpacket_req3>.size)) == 0 else {
            close(s); throw LiveError("receive ring on \(interface): \(errnoText())")
        }
        guard let m = mmap(nil, blockSize * blockCount, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0), m != MAP_FAILED else {
            close(s); throw LiveError("mmap ring on \(interface): \(errnoText())")
        }
        ring = m
        // Our own transmissions must not come back in as received frames.
        var one: Int32 = 1
        _ = setsockopt(s, SOL_PACKET, 23 /* PACKET_IGNORE_OUTGOING */, &one, 4)
        var ifr = ifreq()
        withUnsafeMutableBytes(of: &ifr.ifr_ifrn) { b in
            for (k, c) in interface.utf8.prefix(15).enumerated() { b[k] = c }
        }
        guard nimbus_ioctl_ifindex(s, &ifr) == 0 else {
            munmap(ring, blockSize * blockCount); close(s)
            throw LiveError("no interface \(interface): \(errnoText())")
        }
        let index = ifr.ifr_ifru.ifru_ivalue
        var addr = sockaddr_ll()
        addr.sll_family = UInt16(AF_PACKET)
        addr.sll_protocol = UInt16(ETH_P_ALL).bigEndian
        addr.sll_ifindex = index
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
        }
        guard bound == 0 else { munmap(ring, blockSize * blockCount); close(s); throw LiveError("bind \(interface): \(errnoText())") }
        // Frames addressed to the router MAC, not this link's: promiscuous.
        var mr = packet_mreq()
        mr.mr_ifindex = index
        mr.mr_type = UInt16(PACKET_MR_PROMISC)
        _ = setsockopt(s, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, socklen_t(MemoryLayout<packet_mreq>.size))
        for k in 0..<PacketPort.sendCapacity {
            messages[k] = nimbus_mmsghdr()
            messages[k].msg_hdr.msg_iov = iovecs + k
            messages[k].msg_hdr.msg_iovlen = 1
        }
    }

    deinit {
        iovecs.deallocate(); messages.deallocate()
        munmap(ring, blockSize * blockCount)
        close(fd)
    }

    /// Copies received frames into the batches of the workers the group's dispatcher picks (noting each in
    /// `arrivals`), until one is full or the ring is empty. Returns the count.
    func receive(into group: WorkerGroup, arrivals: inout [UInt32], now: UInt64) -> Int {
        var n = 0
        while true {
            let desc = (ring + block * blockSize).assumingMemoryBound(to: tpacket_block_desc.self)
            guard nimbus_block_status(desc) & nimbus_tp_status_user() != 0 else { return n }
            let packets = Int(desc.pointee.hdr.bh1.num_pkts)
            if packetInBlock == 0 { offsetInBlock = Int(desc.pointee.hdr.bh1.offset_to_first_pkt) }
            while packetInBlock < packets {
                let h = (UnsafeMutableRawPointer(desc) + offsetInBlock).assumingMemoryBound(to: tpacket3_hdr.self)
                let ll = (UnsafeMutableRawPointer(h) + Int(nimbus_tpacket3_hdrlen())).assumingMemoryBound(to: sockaddr_ll.self)
                let length = Int(h.pointee.tp_snaplen)
                if ll.pointee.sll_pkttype != UInt8(PACKET_OUTGOING) {
                    let frame = UnsafeRawBufferPointer(start: UnsafeRawPointer(h) + Int(h.pointee.tp_mac), count: length)
                    // Each frame goes to the batch of the worker that owns its flow.
                    let w = group.dispatch(frame: frame)
                    guard let i = group.workers[w].batch.append(frame, timestamp: now, port: port) else { return n }
                    arrivals.append(WorkerGroup.arrival(worker: w, index: i))
                    n += 1
                }
                packetInBlock += 1
                offsetInBlock += Int(h.pointee.tp_next_offset)
            }
            nimbus_block_release(desc)
            packetInBlock = 0
            block = (block + 1) % blockCount
        }
    }

    /// Queues one frame for `flush`; the bytes must stay put until then.
    @inline(__always)
    func enqueue(_ frame: UnsafeRawBufferPointer) {
        if queued == PacketPort.sendCapacity { flush() }
        iovecs[queued] = iovec(iov_base: UnsafeMutableRawPointer(mutating: frame.baseAddress), iov_len: frame.count)
        queued += 1
    }

    /// Sends what `enqueue` queued, one sendmmsg for all; a frame the socket refuses is dropped (counted).
    func flush() {
        var done = 0
        while done < queued {
            let rc = nimbus_sendmmsg(fd, messages + done, UInt32(queued - done), Int32(MSG_DONTWAIT))
            if rc < 0 { sendErrors += 1; done += 1 } else { done += Int(rc) }
        }
        queued = 0
    }

}

/// Turns off the offloads that would hand a packet socket frames a plain router cannot forward: merged
/// super-frames (TSO/GSO/GRO) and checksums left for hardware to finish (TX checksum offload).
func disableOffloads(_ interface: String) {
    let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard s >= 0 else { return }
    defer { close(s) }
    // ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO
    for cmd: UInt32 in [0x17, 0x19, 0x1F, 0x24, 0x2C] {
        var value = ethtool_value(cmd: cmd, data: 0)
        var ifr = ifreq()
        withUnsafeMutableBytes(of: &ifr.ifr_ifrn) { b in
            for (k, c) in interface.utf8.prefix(15).enumerated() { b[k] = c }
        }
        withUnsafeMutablePointer(to: &value) { v in
            ifr.ifr_ifru.ifru_data = UnsafeMutableRawPointer(v).assumingMemoryBound(to: CChar.self)
            _ = nimbus_ioctl_ethtool(s, &ifr)
        }
    }
}

/// Writes a sysctl under /proc/sys (for the network namespace of the calling thread).
func writeSysctl(_ path: String, _ value: String) {
    let fd = open("/proc/sys/" + path, O_WRONLY)
    guard fd >= 0 else { return }
    _ = value.withCString { write(fd, $0, strlen($0)) }
    close(fd)
}

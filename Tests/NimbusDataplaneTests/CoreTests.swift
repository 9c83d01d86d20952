import Foundation
import NimbusDataplane
import NimbusWire
import Testing

@Suite struct CoreTests {
    @Test func prefixTableFindsTheLongestMatch() {
        let t = IPv4PrefixTable<Int>([
            (IPv4CIDR("0.0.0.0/0")!, 0), (IPv4CIDR("10.0.0.0/8")!, 8), (IPv4CIDR("10.1.0.0/16")!, 16),
            (IPv4CIDR("10.1.2.0/24")!, 24), (IPv4CIDR("10.1.2.3/32")!, 32),
        ])
        #expect(t.lookup(IPv4Address("10.1.2.3")!)?.value == 32)
        #expect(t.lookup(IPv4Address("10.1.2.4")!)?.value == 24)
        #expect(t.lookup(IPv4Address("10.1.3.4")!)?.value == 16)
        #expect(t.lookup(IPv4Address("10.2.0.0")!)?.value == 8)
        #expect(t.lookup(IPv4Address("192.0.2.1")!)?.value == 0)
        #expect(t.lookup(IPv4Address("10.1.2.3")!)?.prefixLength == 32)
        let empty = IPv4PrefixTable<Int>([])
        #expect(empty.lookup(IPv4Address("1.2.3.4")!) == nil)
    }

    @Test func prefixTableHoldsManyHostsWithoutCollisionsLosingAny() {
        var entries: [(IPv4CIDR, Int)] = []
        for i in 0..<5000 { entries.append((IPv4CIDR(address: IPv4Address(value: 0x0A00_0000 + UInt32(i) * 7), prefixLength: 32), i)) }
        let t = IPv4PrefixTable(entries)
        for i in stride(from: 0, to: 5000, by: 37) {
            #expect(t.lookup(IPv4Address(value: 0x0A00_0000 + UInt32(i) * 7))?.value == i)
        }
        #expect(t.lookup(IPv4Address(value: 0x0A00_0001)) == nil)
    }

    @Test func timerWheelFiresInDeadlineOrderAndOnlyWhenDue() {
        var w = TimerWheel(capacity: 16, slotCount: 8, tickNanoseconds: 1_000)
        w.schedule(1, at: 5_000)
        w.schedule(2, at: 2_000)
        w.schedule(3, at: 50_000)   // more than one lap ahead
        var fired: [Int] = []
        w.advance(to: 1_999) { fired.append($0) }
        #expect(fired.isEmpty)
        w.advance(to: 6_000) { fired.append($0) }
        #expect(fired == [2, 1])
        w.advance(to: 20_000) { fired.append($0) }
        #expect(fired == [2, 1])
        let stillScheduled = w.isScheduled(3)  // (a ~Copyable wheel cannot be captured by #expect)
        #expect(stillScheduled)
        w.advance(to: 50_000) { fired.append($0) }
        #expect(fired == [2, 1, 3])
        let left = w.scheduledCount
        #expect(left == 0)
    }

    @Test func timerWheelRescheduleAndCancel() {
        var w = TimerWheel(capacity: 4, slotCount: 4, tickNanoseconds: 10)
        w.schedule(0, at: 100)
        w.schedule(0, at: 300)
        w.schedule(1, at: 100)
        w.cancel(1)
        var fired: [Int] = []
        w.advance(to: 200) { fired.append($0) }
        #expect(fired.isEmpty)
        w.advance(to: 300) { fired.append($0) }
        #expect(fired == [0])
        // A deadline already past fires on the next advance.
        w.schedule(2, at: 10)
        w.advance(to: 310) { fired.append($0) }
        #expect(fired == [0, 2])
    }

    @Test func splitMix64IsReproducible() {
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42), c = SplitMix64(seed: 43)
        let xa = (0..<8).map { _ in a.next() }
        let xb = (0..<8).map { _ in b.next() }
        let xc = (0..<8).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
        // SplitMix64's published first output for seed 0.
        var z = SplitMix64(seed: 0)
        #expect(z.next() == 0xE220_A839_7B1D_CDAF)
    }

    @Test func dropReasonNamesAreStableKebabCase() {
        for r in DropReason.allCases {
            #expect(r.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" })
            #expect(DropReason(name: r.name) == r)
        }
        let fixed = ["malformed-ipv4", "spoofed-source", "ttl-exceeded", "sg-ingress-denied", "sg-egress-denied",
                     "ct-invalid", "ct-table-full", "nat-port-exhausted", "lb-no-healthy-target", "vpn-replay",
                     "vpn-auth-failed", "vpn-source-not-allowed"]
        for name in fixed { #expect(DropReason(name: name) != nil, "\(name)") }
        #expect(Set(DropReason.allCases.map(\.name)).count == DropReason.count)
    }

    @Test func theREADMEsDropReasonTableNamesEveryReason() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let table = text.components(separatedBy: "### Drop reasons").dropFirst().first?.components(separatedBy: "\n## ").first ?? ""
        for r in DropReason.allCases where r != .none {
            #expect(table.contains("`\(r.name)`"), "README's drop-reason table lacks \(r.name)")
        }
    }

    @Test func batchRefusesWhatDoesNotFitAndGeneratesChildren() {
        var b = PacketBatch(arenaSize: 4096)
        let frame = [UInt8](repeating: 1, count: 1500)
        #expect(frame.withUnsafeBytes { b.append($0, timestamp: 1, port: 0) } == 0)
        #expect(frame.withUnsafeBytes { b.append($0, timestamp: 2, port: 0) } == 1)
        #expect(frame.withUnsafeBytes { b.append($0, timestamp: 3, port: 0) } == nil)
        #expect(b.inputCount == 2)
        #expect(b.maximumFrame == 4096 - PacketBatch.headroom - PacketBatch.tailroom)
        b.reset()
        _ = frame.prefix(100).withUnsafeBytes { b.append($0, timestamp: 1, port: 0) }
        let g = b.generate(from: 0, length: 70)
        #expect(g == 1)
        #expect(b.meta[0].child == 1)
        // More answers chain after the first; timer output goes before the input; order follows.
        #expect(b.generate(from: 0, length: 70) == 2)
        #expect(b.meta[1].child == 2)
        #expect(b.generate(before: 0, length: 70) == 3)
        #expect(b.meta[0].before == 3)
        var order: [Int] = []
        b.emissionOrder(into: &order)
        #expect(order == [3, 0, 1, 2])
        #expect(b.generate(from: 0, length: 4096) == nil)   // no room left in the arena
        let grew = b.prepend(0, PacketBatch.headroom)
        let grewPastHeadroom = b.prepend(0, 1)
        #expect(grew)
        #expect(!grewPastHeadroom)
    }
}

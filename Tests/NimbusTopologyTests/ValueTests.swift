@testable import NimbusTopology
import Testing

/// The scalar parsers on their own.
@Suite struct ValueTests {
    @Test(arguments: [
        ("7440s", 7_440_000_000_000), ("12.5s", 12_500_000_000), ("250ms", 250_000_000), ("5m", 300_000_000_000),
        ("1h", 3_600_000_000_000), ("30", 30_000_000_000), ("0.001", 1_000_000), ("1.5ms", 1_500_000),
        ("10us", 10_000), ("7ns", 7), ("0", 0),
    ] as [(String, UInt64)])
    func durations(text: String, nanoseconds: UInt64) throws {
        #expect(try parseDuration(text) == nanoseconds)
    }

    @Test(arguments: ["", "s", "5x", "-1s", "1.s", ".5s", "1.5ns", "1e3s", "99999999999999h", " 5s"])
    func badDurations(text: String) {
        #expect(throws: ValueError.self) { try parseDuration(text) }
    }

    @Test func durationFormatting() {
        #expect(formatDuration(12_500_000_000) == "12.5s")
        #expect(formatDuration(7_440_000_000_000) == "124m")
        #expect(formatDuration(3_600_000_000_000) == "1h")
        #expect(formatDuration(250_000_000) == "250ms")
        #expect(formatDuration(0) == "0s")
        #expect(formatDuration(1_500) == "1500ns")
    }

    @Test func portLists() throws {
        #expect(try parsePortList("22") == [22...22])
        #expect(try parsePortList("80,443") == [80...80, 443...443])
        #expect(try parsePortList("80, 8000-8080") == [80...80, 8000...8080])
        #expect(try parsePortRange("1024-65535") == 1024...65535)
        for bad in ["0", "65536", "80,", "a", "10-", "-10", "20-10", "1-2-3"] {
            #expect(throws: ValueError.self, "\(bad)") { try parsePortList(bad) }
        }
    }

    @Test func ruleProtocols() throws {
        #expect(try parseRuleProtocol("tcp") == .tcp)
        #expect(try parseRuleProtocol("ICMP") == .icmp)
        #expect(try parseRuleProtocol("all") == .all)
        #expect(try parseRuleProtocol("132") == .number(132))
        #expect(throws: ValueError.self) { try parseRuleProtocol("256") }
    }

    @Test func suggestions() {
        #expect(closestMatch(to: "nmae", among: ["name", "cidr"]) == "name")
        #expect(closestMatch(to: "vers", among: ["version", "name"]) == "version")
        #expect(closestMatch(to: "c", among: ["a", "b"]) == nil)
        #expect(closestMatch(to: "zzzzzz", among: ["name"]) == nil)
    }

    @Test func keys() throws {
        #expect(try parseKey32("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=") == [UInt8](repeating: 1, count: 32))
        #expect(throws: ValueError.self) { try parseKey32("AQEB") }
    }
}

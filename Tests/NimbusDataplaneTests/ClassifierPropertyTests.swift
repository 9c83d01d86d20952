import NimbusDataplane
import NimbusWire
import PropertyBased
import Testing

/// The compiled classifier must decide exactly as the rules read naively: for random rule sets and random
/// packets, `RuleClassifier.allows` equals "some rule matches" (`SecurityRuleSpec.matches`).
@Suite struct ClassifierPropertyTests {
    /// Small value spaces on purpose, so rules and packets collide often.
    static let protocols: [UInt8?] = [nil, IPProtocol.tcp, IPProtocol.udp, IPProtocol.icmp, 47]
    static let ports: [UInt16] = [0, 22, 53, 79, 80, 81, 443, 1024, 8080, 65535]

    static let addressGen = Gen.int(in: 0...15).map { IPv4Address(value: 0x0A00_0000 | UInt32($0) << 6 | UInt32($0 & 3)) }
    static let cidrGen = zip(addressGen, Gen.int(in: 24...32)).map { IPv4CIDR(address: $0, prefixLength: $1) }
    static let rangeGen = zip(Gen.int(in: 0..<10), Gen.int(in: 0..<10)).map { a, b -> ClosedRange<UInt16> in
        let x = ports[min(a, b)], y = ports[max(a, b)]
        return x...y
    }
    static let ruleGen = zip(
        Gen.int(in: 0..<5), rangeGen.array(of: 0...2), Gen.int(in: 0...3), Gen.int(in: 0...2),
        cidrGen.array(of: 1...3), Gen.bool
    ).map { p, ranges, type, code, peers, everywhere -> SecurityRuleSpec in
        let proto = protocols[p]
        let isPorts = proto == IPProtocol.tcp || proto == IPProtocol.udp
        let icmpType: UInt8? = proto == IPProtocol.icmp && type > 0 ? [0, 3, 8, 11][type] : nil
        let icmpCode: UInt8? = icmpType != nil && code > 0 ? UInt8(code - 1) : nil
        return SecurityRuleSpec(protocolNumber: proto, ports: isPorts ? ranges : [], icmpType: icmpType, icmpCode: icmpCode,
                                peers: everywhere && peers.count == 3 ? [IPv4CIDR(address: .any, prefixLength: 0)] : peers)
    }
    static let packetGen = zip(Gen.int(in: 1..<5), Gen.int(in: 0..<10), Gen.int(in: 0...3), Gen.int(in: 0...1), addressGen)
        .map { p, port, type, code, remote -> (UInt8, UInt16, IPv4Address) in
            let proto = protocols[p]!
            let service = proto == IPProtocol.icmp ? UInt16([0, 3, 8, 11][type]) << 8 | UInt16(code) : ports[port]
            return (proto, service, remote)
        }

    @Test func compiledClassifierAgreesWithTheNaiveMatcher() async {
        await propertyCheck(count: 300, input: Self.ruleGen.array(of: 0...12), Self.packetGen.array(of: 20...20)) { rules, packets in
            let compiled = RuleClassifier(rules)
            for (proto, service, remote) in packets {
                let naive = rules.contains { $0.matches(protocol: proto, servicePort: service, remote: remote) }
                #expect(compiled.allows(protocol: proto, servicePort: service, remote: remote) == naive,
                        "proto \(proto) service \(service) remote \(remote)")
            }
        }
    }

    @Test func tenThousandRulesStillDecideExactly() {
        // Every rule admits one host on one port: the classifier must find the one that matches.
        var rules: [SecurityRuleSpec] = []
        for i in 0..<10_000 {
            rules.append(SecurityRuleSpec(protocolNumber: IPProtocol.tcp, ports: [UInt16(1000 + i)...UInt16(1000 + i)],
                                          peers: [IPv4CIDR(address: IPv4Address(value: 0x0A00_0000 + UInt32(i)), prefixLength: 32)]))
        }
        let c = RuleClassifier(rules)
        for i in stride(from: 0, to: 10_000, by: 97) {
            let host = IPv4Address(value: 0x0A00_0000 + UInt32(i))
            #expect(c.allows(protocol: IPProtocol.tcp, servicePort: UInt16(1000 + i), remote: host))
            #expect(!c.allows(protocol: IPProtocol.tcp, servicePort: UInt16(1001 + i), remote: host))
            #expect(!c.allows(protocol: IPProtocol.udp, servicePort: UInt16(1000 + i), remote: host))
        }
    }
}

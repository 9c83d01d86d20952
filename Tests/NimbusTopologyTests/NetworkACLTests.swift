import NimbusTopology
import NimbusWire
import Testing

/// Stateless network ACLs (`network-acls`) and the subnets that use them.
@Suite struct NetworkACLTests {
    /// A valid file: rules written out of order, every rule form, an ACL that denies all inbound.
    static let example = """
        version: 1
        name: t
        network-acls:
          - name: edge
            inbound:
              - { rule: 200, action: allow, protocol: all, source: 0.0.0.0/0 }
              - { rule: 100, action: deny, protocol: tcp, ports: 22, source: 192.0.2.0/24 }
              - { rule: 150, action: allow, protocol: icmp, icmp-type: 3, icmp-code: 4, source: 10.0.0.0/8 }
              - { rule: 32766, action: allow, protocol: udp, ports: "53,1024-65535", source: "2001:db8::/32" }
            outbound:
              - { rule: 300, action: allow, protocol: tcp, ports: 1024-65535, destination: 0.0.0.0/0 }
              - { rule: 1, action: allow, protocol: 47, destination: 198.51.100.7 }
          - name: lockdown
            inbound: []
            outbound:
              - { rule: 100, action: deny, protocol: all, destination: "::/0" }
        networks:
          - name: vpc
            cidr: 10.0.0.0/16
            subnets:
              - { name: web, cidr: 10.0.1.0/24, network-acl: edge }
              - { name: db, cidr: 10.0.2.0/24 }
              - { name: vault, cidr: 10.0.3.0/24, network-acl: lockdown }
        """

    /// A file whose ACL `edge` has the given rules, one a line: the first inbound rule is on line 11,
    /// and the outbound rules follow the `outbound:` line. The subnet on line 7 uses `edge`.
    static func file(
        inbound: [String], outbound: [String] = ["{ rule: 100, action: allow, protocol: all, destination: 0.0.0.0/0 }"]
    ) -> String {
        var lines = [
            "version: 1",
            "name: t",
            "networks:",
            "  - name: vpc",
            "    cidr: 10.0.0.0/16",
            "    subnets:",
            "      - { name: app, cidr: 10.0.1.0/24, network-acl: edge }",
            "network-acls:",
            "  - name: edge",
            "    inbound:",
        ]
        lines += inbound.map { "      - " + $0 }
        lines.append("    outbound:")
        lines += outbound.map { "      - " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    static let allowAll = "{ rule: 100, action: allow, protocol: all, source: 0.0.0.0/0 }"

    @Test func exampleLoadsWithRulesSortedByNumber() throws {
        let t = try #require(load(Self.example))
        #expect(t.networkACLs.map(\.name) == ["edge", "lockdown"])
        let edge = try #require(t.networkACL(named: "edge"))
        #expect(edge.inbound.map(\.number) == [100, 150, 200, 32766])
        #expect(edge.outbound.map(\.number) == [1, 300])

        #expect(edge.inbound[0] == ACLRule(
            number: 100, action: .deny, protocol: .tcp, ports: [22...22], peer: try #require(IPCIDR("192.0.2.0/24"))))
        let icmp = edge.inbound[1]
        #expect(icmp.action == .allow)
        #expect(icmp.protocol == .icmp)
        #expect(icmp.ports.isEmpty)
        #expect(icmp.icmpType == 3)
        #expect(icmp.icmpCode == 4)
        #expect(icmp.peer == IPCIDR("10.0.0.0/8"))
        #expect(edge.inbound[2] == ACLRule(
            number: 200, action: .allow, protocol: .all, peer: try #require(IPCIDR("0.0.0.0/0"))))
        let v6 = edge.inbound[3]
        #expect(v6.protocol == .udp)
        #expect(v6.ports == [53...53, 1024...65535])
        #expect(v6.peer == IPCIDR("2001:db8::/32"))

        #expect(edge.outbound[0] == ACLRule(
            number: 1, action: .allow, protocol: .number(47), peer: try #require(IPCIDR("198.51.100.7/32"))))
        #expect(edge.outbound[1].ports == [1024...65535])
        #expect(edge.outbound[1].peer == IPCIDR("0.0.0.0/0"))

        let lockdown = try #require(t.networkACL(named: "lockdown"))
        #expect(lockdown.inbound.isEmpty)
        #expect(lockdown.outbound == [ACLRule(
            number: 100, action: .deny, protocol: .all, peer: try #require(IPCIDR("::/0")))])

        let vpc = try #require(t.network(named: "vpc"))
        #expect(vpc.subnets.map(\.networkACL) == ["edge", nil, "lockdown"])
        #expect(ACLAction(rawValue: "deny") == .deny)
        #expect(ACLAction.allow.rawValue == "allow")
    }

    @Test func initializerSortsByRuleNumber() throws {
        let any = try #require(IPCIDR("0.0.0.0/0"))
        let acl = NetworkACL(
            name: "x",
            inbound: [ACLRule(number: 20, action: .allow, protocol: .all, peer: any),
                      ACLRule(number: 10, action: .deny, protocol: .all, peer: any)],
            outbound: [])
        #expect(acl.inbound.map(\.number) == [10, 20])
    }

    @Test func summaryShowsACLsAndSubnetACL() throws {
        let t = try #require(load(Self.example))
        let lines = t.summary().split(separator: "\n").map(String.init)
        #expect(lines.contains("    subnet web 10.0.1.0/24 gateway 10.0.1.1 network-acl edge"))
        #expect(lines.contains("    subnet db 10.0.2.0/24 gateway 10.0.2.1"))
        #expect(lines.contains("network ACLs (2):"))
        #expect(lines.contains("  edge: 4 inbound, 2 outbound"))
        #expect(lines.contains("  lockdown: 0 inbound, 1 outbound"))
    }

    @Test func noACLsLeavesSummaryAndModelUnchanged() throws {
        let t = try #require(load(base))
        #expect(t.networkACLs.isEmpty)
        #expect(t.network(named: "vpc")?.subnets.first?.networkACL == nil)
        #expect(!t.summary().contains("network ACL"))
    }

    // MARK: - Keys and types

    @Test func unknownKeyInRule() {
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: all, source: 0.0.0.0/0, sg: web }"]),
            "t.yaml:11:71: error: unknown key 'sg' in inbound rule (allowed: rule, action, protocol, ports, "
                + "icmp-type, icmp-code, source)")
        // `destination` belongs to outbound rules only, and `source` to inbound ones.
        #expect(errors(Self.file(inbound: ["{ rule: 100, action: allow, protocol: all, destination: 0.0.0.0/0 }"])) == [
            "t.yaml:11:9: error: missing required key 'source' in inbound rule",
            "t.yaml:11:52: error: unknown key 'destination' in inbound rule (allowed: rule, action, protocol, ports, "
                + "icmp-type, icmp-code, source)",
        ])
        #expect(errors(Self.file(inbound: [], outbound: ["{ rule: 1, action: allow, protocol: all, source: 0.0.0.0/0 }"])) == [
            "t.yaml:12:9: error: missing required key 'destination' in outbound rule",
            "t.yaml:12:50: error: unknown key 'source' in outbound rule (allowed: rule, action, protocol, ports, "
                + "icmp-type, icmp-code, destination)",
        ])
    }

    @Test func unknownKeyInACL() {
        let yaml = base + """
            network-acls:
              - { name: edge, inbound: [], outbound: [], default: deny }
            """
        expectError(yaml, prefix: "t.yaml:9:46: error: unknown key 'default' in network ACL 'edge'",
                    containing: "(allowed: name, inbound, outbound)")
    }

    @Test func missingRequiredKeys() {
        expectError(base + """
            network-acls:
              - { name: edge, inbound: [] }
            """, "t.yaml:9:5: error: missing required key 'outbound' in network ACL 'edge'")
        expectError(
            Self.file(inbound: ["{ action: allow, protocol: all, source: 0.0.0.0/0 }"]),
            "t.yaml:11:9: error: missing required key 'rule' in inbound rule")
        expectError(
            Self.file(inbound: ["{ rule: 100, protocol: all, source: 0.0.0.0/0 }"]),
            "t.yaml:11:9: error: missing required key 'action' in inbound rule")
    }

    @Test func wrongTypes() {
        expectError(base + "network-acls: { name: edge }\n", "t.yaml:8:15: error: 'network-acls' must be a list, not a mapping")
        expectError(base + """
            network-acls:
              - name: edge
                inbound: { rule: 100 }
                outbound: []
            """, "t.yaml:10:14: error: 'inbound' must be a list, not a mapping")
        expectError(
            Self.file(inbound: ["{ rule: [100], action: allow, protocol: all, source: 0.0.0.0/0 }"]),
            "t.yaml:11:17: error: 'rule' must be a single value, not a list")
    }

    // MARK: - Values

    @Test func ruleNumberOutOfRange() {
        expectError(
            Self.file(inbound: ["{ rule: 0, action: allow, protocol: all, source: 0.0.0.0/0 }"]),
            "t.yaml:11:17: error: invalid rule number '0' for 'rule': must be from 1 to 32766")
        expectError(
            Self.file(inbound: [Self.allowAll], outbound: ["{ rule: 32767, action: allow, protocol: all, destination: 0.0.0.0/0 }"]),
            "t.yaml:13:17: error: invalid rule number '32767' for 'rule': must be from 1 to 32766")
        expectError(
            Self.file(inbound: ["{ rule: first, action: allow, protocol: all, source: 0.0.0.0/0 }"]),
            prefix: "t.yaml:11:17: error: invalid rule number 'first' for 'rule'",
            containing: "expected an integer from 1 to 32766")
    }

    @Test func badAction() {
        expectError(
            Self.file(inbound: ["{ rule: 100, action: alow, protocol: all, source: 0.0.0.0/0 }"]),
            "t.yaml:11:30: error: invalid action 'alow' for 'action': expected allow or deny; did you mean 'allow'?")
        expectError(
            Self.file(inbound: ["{ rule: 100, action: permit, protocol: all, source: 0.0.0.0/0 }"]),
            prefix: "t.yaml:11:30: error: invalid action 'permit'", containing: "expected allow or deny")
    }

    @Test func securityGroupPeerIsRejected() {
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: all, source: \"sg:web\" }"]),
            "t.yaml:11:60: error: invalid CIDR 'sg:web' for 'source': network ACLs take CIDRs only, not security groups")
        expectError(
            Self.file(inbound: [], outbound: ["{ rule: 100, action: deny, protocol: all, destination: sg:db }"]),
            prefix: "t.yaml:12:64: error: invalid CIDR 'sg:db' for 'destination'",
            containing: "network ACLs take CIDRs only")
    }

    @Test func badPeerCIDR() {
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: all, source: 10.0.0.1/8 }"]),
            "t.yaml:11:60: error: invalid CIDR '10.0.0.1/8' for 'source': host bits are set; did you mean 10.0.0.0/8?")
    }

    @Test func portsOnlyWithTCPOrUDP() {
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: icmp, ports: 22, source: 0.0.0.0/0 }"]),
            "t.yaml:11:53: error: 'ports' applies only to tcp and udp rules, not icmp")
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: all, ports: 22, source: 0.0.0.0/0 }"]),
            prefix: "t.yaml:11:52: error: 'ports' applies only to tcp and udp rules", containing: "not all")
    }

    @Test func icmpTypeOnlyWithICMP() {
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: tcp, icmp-type: 8, source: 0.0.0.0/0 }"]),
            "t.yaml:11:52: error: 'icmp-type' applies only to icmp and icmpv6 rules, not tcp")
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: icmp, icmp-code: 0, source: 0.0.0.0/0 }"]),
            "t.yaml:11:53: error: 'icmp-code' needs an 'icmp-type'")
    }

    @Test func badProtocolAndPorts() {
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: tpc, source: 0.0.0.0/0 }"]),
            prefix: "t.yaml:11:47: error: invalid protocol 'tpc' for 'protocol'", containing: "did you mean 'tcp'?")
        expectError(
            Self.file(inbound: ["{ rule: 100, action: allow, protocol: tcp, ports: 70000, source: 0.0.0.0/0 }"]),
            prefix: "t.yaml:11:59: error: invalid ports '70000' for 'ports'", containing: "ports from 1 to 65535")
    }

    // MARK: - Consistency

    @Test func duplicateACLNames() {
        expectError(base + """
            network-acls:
              - { name: edge, inbound: [], outbound: [] }
              - { name: edge, inbound: [], outbound: [] }
            """, "t.yaml:10:13: error: duplicate network ACL name 'edge' (first at line 9, column 13)")
    }

    @Test func duplicateRuleNumbers() {
        expectError(
            Self.file(inbound: [
                "{ rule: 100, action: deny, protocol: tcp, ports: 22, source: 192.0.2.0/24 }",
                "{ rule: 200, action: allow, protocol: all, source: 0.0.0.0/0 }",
                "{ rule: 100, action: allow, protocol: udp, source: 0.0.0.0/0 }",
            ]),
            "t.yaml:13:17: error: duplicate rule number 100 in the inbound rules of network ACL 'edge' "
                + "(first at line 11, column 17)")
        expectError(
            Self.file(inbound: [], outbound: [
                "{ rule: 5, action: allow, protocol: all, destination: 0.0.0.0/0 }",
                "{ rule: 5, action: deny, protocol: all, destination: 10.0.0.0/8 }",
            ]),
            prefix: "t.yaml:13:17: error: duplicate rule number 5 in the outbound rules of network ACL 'edge'",
            containing: "first at line 12")
        // The same number in the inbound and the outbound list is fine.
        #expect(load(Self.file(inbound: [Self.allowAll])) != nil)
    }

    @Test func unknownNetworkACLReference() {
        expectError(base + """
                  - { name: db, cidr: 10.0.2.0/24, network-acl: egde }
            network-acls:
              - { name: edge, inbound: [], outbound: [] }
            """, "t.yaml:8:53: error: unknown network ACL 'egde'; did you mean 'edge'?")
        expectError(base + """
                  - { name: db, cidr: 10.0.2.0/24, network-acl: strict }
            """, "t.yaml:8:53: error: unknown network ACL 'strict'")
        expectError(base + """
                  - { name: db, cidr: 10.0.2.0/24, network-acl: "no such" }
            """, prefix: "t.yaml:8:53: error: invalid name 'no such' for 'network-acl'", containing: "use letters")
    }

    @Test func subnetUnknownKeyListsNetworkACL() {
        expectError(base + """
                  - { name: db, cidr: 10.0.2.0/24, acl: edge }
            """, prefix: "t.yaml:8:40: error: unknown key 'acl' in subnet 'db'",
            containing: "(allowed: name, cidr, network-acl)")
    }

    @Test func everyErrorAtOnce() {
        #expect(errors(Self.file(inbound: [
            "{ rule: 0, action: allow, protocol: all, source: 0.0.0.0/0 }",
            "{ rule: 10, action: maybe, protocol: all, source: sg:web }",
        ])) == [
            "t.yaml:11:17: error: invalid rule number '0' for 'rule': must be from 1 to 32766",
            "t.yaml:12:29: error: invalid action 'maybe' for 'action': expected allow or deny",
            "t.yaml:12:59: error: invalid CIDR 'sg:web' for 'source': network ACLs take CIDRs only, not security groups",
        ])
    }
}

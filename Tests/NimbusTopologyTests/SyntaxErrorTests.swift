import NimbusTopology
import Testing

/// Errors found in one part of the file on its own: structure, keys, types and value syntax.
@Suite struct SyntaxErrorTests {
    @Test func missingVersion() {
        expectError("name: t\n", "t.yaml:1:1: error: missing required key 'version' in the topology")
    }

    @Test func wrongVersion() {
        expectError(
            "version: 2\nname: t\n", "t.yaml:1:10: error: unsupported version '2'; this Nimbus reads version 1")
    }

    @Test func emptyFile() {
        expectError("# nothing\n", "t.yaml:1:1: error: the file is empty; a topology starts with 'version: 1'")
    }

    @Test func missingRequiredKey() {
        expectError(base + """
            instances:
              - { name: a, network: vpc, ip: 10.0.1.10 }
            """, "t.yaml:9:5: error: missing required key 'subnet' in instance 'a'")
    }

    @Test func unknownKeyWithSuggestion() {
        expectError(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10, securty-groups: [x] }
            """,
            "t.yaml:9:58: error: unknown key 'securty-groups' in instance 'a'; did you mean 'security-groups'? "
                + "(allowed: name, network, subnet, ip, mac, public-ip, security-groups)")
    }

    @Test func unknownTopLevelKey() {
        expectError(base + "colour: blue\n", prefix: "t.yaml:8:1: error: unknown key 'colour' in the topology", containing: "(allowed: version, name,")
    }

    @Test func wrongTypes() {
        expectError(base + """
            security-groups:
              name: web
            """, "t.yaml:9:3: error: 'security-groups' must be a list, not a mapping")
        expectError(base + "conntrack: [strict]\n", "t.yaml:8:12: error: 'conntrack' must be a mapping, not a list")
        expectError(base + """
            instances:
              - { name: [a], network: vpc, subnet: app, ip: 10.0.1.10 }
            """, "t.yaml:9:13: error: 'name' must be a single value, not a list")
        expectError(base + "instances: [web-1]\n", "t.yaml:8:13: error: each entry of 'instances' must be a mapping, not 'web-1'")
    }

    @Test func duplicateKeys() {
        expectError(
            "version: 1\nname: t\nname: u\n", "t.yaml:3:1: error: duplicate key 'name' (first at line 2, column 1)")
        expectError(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10, ip: 10.0.1.11 }
            """, "t.yaml:9:58: error: duplicate key 'ip' (first at line 9, column 43)")
    }

    @Test func duplicateKeysAreAllReported() {
        let found = errors("version: 1\nname: t\nname: u\nversion: 1\nname: v\n")
        #expect(found == [
            "t.yaml:3:1: error: duplicate key 'name' (first at line 2, column 1)",
            "t.yaml:4:1: error: duplicate key 'version' (first at line 1, column 1)",
            "t.yaml:5:1: error: duplicate key 'name' (first at line 2, column 1)",
        ])
    }

    @Test func yamlSyntaxError() {
        expectError("version: 1\nname: [t\n", prefix: "t.yaml:3:1: error: invalid YAML: ", containing: "did not find expected")
    }

    @Test func badIPAddress() {
        expectError(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.300 }
            """, "t.yaml:9:47: error: invalid IPv4 address '10.0.1.300' for 'ip'")
    }

    @Test func cidrWithHostBitsSuggestsTheNetwork() {
        expectError("""
            version: 1
            name: t
            networks:
              - { name: vpc, cidr: 10.0.0.1/16, subnets: [] }
            """,
            "t.yaml:4:24: error: invalid CIDR '10.0.0.1/16' for 'cidr': host bits are set; did you mean 10.0.0.0/16?")
        expectError(base + """
            security-groups:
              - { name: g, ingress: [{ protocol: all, source: 10.0.0.0/33 }] }
            """, "t.yaml:9:51: error: invalid CIDR '10.0.0.0/33' for 'source'")
    }

    @Test func badMAC() {
        expectError(base + "router-mac: 02:00:00:00:00\n", prefix: "t.yaml:8:13: error: invalid MAC address '02:00:00:00:00' for 'router-mac'", containing: "six hex bytes")
        expectError(base + "router-mac: 01:00:5e:00:00:01\n", prefix: "t.yaml:8:13: error: invalid MAC address", containing: "multicast")
    }

    @Test func badPortAndPortRange() {
        expectError(base + """
            security-groups:
              - { name: g, ingress: [{ protocol: tcp, ports: "80,70000", source: 0.0.0.0/0 }] }
            """, "t.yaml:9:50: error: invalid ports '80,70000' for 'ports': '70000': expected PORT or LOW-HIGH, with ports from 1 to 65535")
        expectError(base + "    nat: { public-ips: [203.0.113.1], ports: 2000-1000 }\n",
            "t.yaml:8:46: error: invalid port range '2000-1000' for 'ports': the first port is above the last")
        expectError(base + """
            instances: [{ name: a, network: vpc, subnet: app, ip: 10.0.1.10 }]
            load-balancers:
              - { name: lb, vip: 10.0.1.100, listeners: [{ protocol: tcp, port: 0, targets: [a] }] }
            """, "t.yaml:10:69: error: invalid port '0' for 'port': must be from 1 to 65535")
    }

    @Test func badDuration() {
        expectError(base + "    nat: { public-ips: [203.0.113.1], timeouts: { udp: 5x } }\n",
            "t.yaml:8:56: error: invalid duration '5x' for 'udp': use a number with a unit: 300s, 12.5s, 250ms, 5m, 1h")
    }

    @Test func badBase64Keys() {
        let tunnel = base + """
            vpn-tunnels:
              - name: office
                network: vpc
                listen: 203.0.113.3:51820
                private-key: AAAAAAAAAAAAAAAAAAAAAA==
                peers:
                  - { public-key: not-base64!, allowed-ips: [] }
            """
        #expect(errors(tunnel) == [
            "t.yaml:12:18: error: invalid key 'AAAAAAAAAAAAAAAAAAAAAA==' for 'private-key': decodes to 16 bytes; a WireGuard key is 32",
            "t.yaml:14:23: error: invalid key 'not-base64!' for 'public-key': not base64; expected 32 bytes in base64, as `wg genkey` prints",
        ])
    }

    @Test func badEndpoint() {
        expectError(base + """
            vpn-tunnels:
              - { name: o, network: vpc, listen: 203.0.113.3, private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, peers: [] }
            """, "t.yaml:9:38: error: invalid endpoint '203.0.113.3' for 'listen': expected IPV4:PORT like 192.0.2.10:51820")
    }

    @Test func badTCPPickup() {
        expectError(base + "conntrack: { tcp-pickup: lose }\n",
            "t.yaml:8:26: error: invalid tcp-pickup 'lose' for 'tcp-pickup': expected strict or loose; did you mean 'loose'?")
    }

    @Test func badMode() {
        expectError("""
            version: 1
            name: t
            networks:
              - { name: vpc, cidr: 10.0.0.0/16, mode: nat, subnets: [] }
            """, "t.yaml:4:43: error: invalid mode 'nat' for 'mode': expected nat-private or public-ip; did you mean 'nat-private'?")
    }

    @Test func badName() {
        expectError(base + """
            instances:
              - { name: "web 1", network: vpc, subnet: app, ip: 10.0.1.10 }
            """, prefix: "t.yaml:9:13: error: invalid name 'web 1' for 'name'", containing: "letters, digits")
    }

    @Test func weightOutOfRange() {
        expectError(base + """
            instances: [{ name: a, network: vpc, subnet: app, ip: 10.0.1.10 }]
            load-balancers:
              - { name: lb, vip: 10.0.1.100, listeners: [{ protocol: tcp, port: 80, targets: [{ instance: a, weight: 256 }] }] }
            """, "t.yaml:10:106: error: invalid weight '256' for 'weight': must be from 1 to 255")
    }

    @Test func portsOnlyWithTCPAndUDP() {
        expectError(base + """
            security-groups:
              - { name: g, ingress: [{ protocol: icmp, ports: 80, source: 0.0.0.0/0 }] }
            """, "t.yaml:9:44: error: 'ports' applies only to tcp and udp rules, not icmp")
        expectError(base + """
            security-groups:
              - { name: g, egress: [{ protocol: tcp, icmp-type: 8, destination: 0.0.0.0/0 }], ingress: [] }
            """, "t.yaml:9:42: error: 'icmp-type' applies only to icmp and icmpv6 rules, not tcp")
    }

    @Test func badProtocol() {
        expectError(base + """
            security-groups:
              - { name: g, ingress: [{ protocol: tpc, source: 0.0.0.0/0 }] }
            """, prefix: "t.yaml:9:38: error: invalid protocol 'tpc' for 'protocol'", containing: "did you mean 'tcp'?")
    }

    @Test func unreadableFile() {
        do {
            _ = try TopologyLoader.load(path: "/nonexistent/dir/t.yaml")
            Issue.record("loaded a file that does not exist")
        } catch {
            #expect(error.diagnostics.map(\.description) == [
                "/nonexistent/dir/t.yaml:1:1: error: cannot read topology file: No such file or directory",
            ])
        }
    }
}

import Foundation
import NimbusTopology
import Testing

/// Errors that relate one part of the file to another.
@Suite struct ConsistencyErrorTests {
    static let twoInstances = base + """
        instances:
          - { name: a, network: vpc, subnet: app, ip: 10.0.1.10 }
          - { name: b, network: vpc, subnet: app, ip: 10.0.1.11 }

        """

    @Test func duplicateNames() {
        expectError(base + """
                  - { name: app, cidr: 10.0.2.0/24 }
            """, "t.yaml:8:17: error: duplicate subnet name 'app' (first at line 7, column 17)")
        expectError(base + """
              - { name: vpc, cidr: 10.1.0.0/16, subnets: [] }
            """, "t.yaml:8:13: error: duplicate network name 'vpc' (first at line 4, column 11)")
        expectError(base + """
            security-groups: [{ name: g, ingress: [] }, { name: g, ingress: [] }]
            """, "t.yaml:8:53: error: duplicate security group name 'g' (first at line 8, column 27)")
        expectError(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10 }
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.11 }
            """, "t.yaml:10:13: error: duplicate instance name 'a' (first at line 9, column 13)")
        expectError(Self.twoInstances + """
            load-balancers:
              - { name: lb, vip: 10.0.1.100, listeners: [{ protocol: tcp, port: 80, targets: [a] }] }
              - { name: lb, vip: 10.0.1.101, listeners: [{ protocol: tcp, port: 80, targets: [b] }] }
            """, "t.yaml:13:13: error: duplicate load balancer name 'lb' (first at line 12, column 13)")
        expectError(base + """
            vpn-tunnels:
              - { name: o, network: vpc, listen: 203.0.113.3:1, private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, peers: [] }
              - { name: o, network: vpc, listen: 203.0.113.4:1, private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, peers: [] }
            """, "t.yaml:10:13: error: duplicate vpn tunnel name 'o' (first at line 9, column 13)")
        expectError(base + """
            internet:
              hosts: [{ name: h, ip: 198.51.100.1 }, { name: h, ip: 198.51.100.2 }]
            """, "t.yaml:9:50: error: duplicate internet host name 'h' (first at line 9, column 19)")
    }

    @Test func instanceNamedInternet() {
        expectError(base + """
            instances:
              - { name: internet, network: vpc, subnet: app, ip: 10.0.1.10 }
            """, "t.yaml:9:13: error: 'internet' is the uplink port's name; choose another instance name")
    }

    @Test func subnetOutsideNetwork() {
        expectError(base + """
                  - { name: db, cidr: 10.1.2.0/24 }
            """, "t.yaml:8:27: error: subnet 'db' (10.1.2.0/24) is outside network 'vpc' (10.0.0.0/16)")
    }

    @Test func overlappingSubnets() {
        expectError(base + """
                  - { name: db, cidr: 10.0.1.128/25 }
            """, "t.yaml:8:27: error: subnet 'db' (10.0.1.128/25) overlaps subnet 'app' (10.0.1.0/24)")
    }

    @Test func overlappingNetworks() {
        expectError(base + """
              - { name: big, cidr: 10.0.0.0/8, subnets: [] }
            """, "t.yaml:8:24: error: network 'big' (10.0.0.0/8) overlaps network 'vpc' (10.0.0.0/16)")
    }

    @Test func instanceAddressesOutsideOrReserved() {
        let cases = [
            ("10.0.2.10", "is outside subnet 'app' (10.0.1.0/24)"),
            ("10.0.1.0", "is the network address of subnet 'app' (10.0.1.0/24)"),
            ("10.0.1.1", "is the gateway of subnet 'app' (10.0.1.0/24)"),
            ("10.0.1.255", "is the broadcast address of subnet 'app' (10.0.1.0/24)"),
        ]
        for (ip, problem) in cases {
            expectError(base + """
                instances:
                  - { name: a, network: vpc, subnet: app, ip: \(ip) }
                """, "t.yaml:9:47: error: ip \(ip) of instance 'a' \(problem)")
        }
    }

    @Test func duplicateInstanceIP() {
        expectError(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10 }
              - { name: b, network: vpc, subnet: app, ip: 10.0.1.10 }
            """, "t.yaml:10:47: error: ip 10.0.1.10 of instance 'b' is already used by instance 'a' (at line 9, column 47)")
    }

    @Test func danglingInstanceReferences() {
        #expect(errors(base + """
            instances:
              - { name: a, network: vcp, subnet: app, ip: 10.0.1.10 }
              - { name: b, network: vpc, subnet: apps, ip: 10.0.1.11, security-groups: [nope] }
            """) == [
            "t.yaml:9:25: error: unknown network 'vcp'; did you mean 'vpc'?",
            "t.yaml:10:38: error: unknown subnet 'apps' in network 'vpc'; did you mean 'app'?",
            "t.yaml:10:77: error: unknown security group 'nope'",
        ])
    }

    @Test func danglingGroupReference() {
        expectError(base + """
            security-groups:
              - { name: web, ingress: [{ protocol: tcp, ports: 22, source: "sg:admn" }] }
              - { name: admin, ingress: [] }
            """, "t.yaml:9:64: error: unknown security group 'admn'; did you mean 'admin'?")
    }

    @Test func danglingTargetsAndEvents() {
        #expect(errors(Self.twoInstances + """
            load-balancers:
              - { name: lb, vip: 10.0.1.100, listeners: [{ protocol: tcp, port: 80, targets: [a, c] }] }
            events:
              - { at: 1s, set-target: { load-balancer: lbb, instance: a, state: down } }
              - { at: 2s, set-target: { load-balancer: lb, instance: b, state: down } }
            """) == [
            "t.yaml:12:86: error: unknown instance 'c'",
            "t.yaml:14:44: error: unknown load balancer 'lbb'; did you mean 'lb'?",
            "t.yaml:15:58: error: instance 'b' is not a target of load balancer 'lb'",
        ])
    }

    @Test func danglingTunnelNetwork() {
        expectError(base + """
            vpn-tunnels:
              - { name: o, network: corp, listen: 203.0.113.3:1, private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, peers: [] }
            """, "t.yaml:9:25: error: unknown network 'corp'")
    }

    @Test func publicIPNetworkRejectsNATAndElasticIPs() {
        #expect(errors("""
            version: 1
            name: t
            networks:
              - name: dmz
                cidr: 198.51.100.0/24
                mode: public-ip
                subnets: [{ name: s, cidr: 198.51.100.0/24 }]
                nat: { public-ips: [203.0.113.1] }
            instances:
              - { name: a, network: dmz, subnet: s, ip: 198.51.100.10, public-ip: 203.0.113.10 }
            """) == [
            "t.yaml:8:5: error: 'nat' applies only to nat-private networks; network 'dmz' is public-ip",
            "t.yaml:10:60: error: 'public-ip' applies only to nat-private networks; in public-ip network 'dmz' an instance's ip is its public address",
        ])
    }

    @Test func natPrivateNeedsPrivateRange() {
        expectError("""
            version: 1
            name: t
            networks:
              - { name: vpc, cidr: 11.0.0.0/16, subnets: [] }
            """, "t.yaml:4:24: error: network 'vpc' is nat-private but 11.0.0.0/16 is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)")
    }

    @Test func publicAddressUsedTwice() {
        #expect(errors(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10, public-ip: 203.0.113.1 }
            load-balancers:
              - { name: lb, vip: 203.0.113.1, listeners: [{ protocol: tcp, port: 80, targets: [a] }] }
            internet:
              hosts: [{ name: h, ip: 203.0.113.1 }]
            """) == [
            "t.yaml:11:22: error: public address 203.0.113.1 (vip of load balancer 'lb') is already used as public-ip of instance 'a' (at line 9, column 69)",
            "t.yaml:13:26: error: public address 203.0.113.1 (ip of internet host 'h') is already used as public-ip of instance 'a' (at line 9, column 69)",
        ])
        expectError(base + """
                nat: { public-ips: [203.0.113.1, 203.0.113.1] }
            """, "t.yaml:8:38: error: public address 203.0.113.1 (NAT public IP of network 'vpc') is already used as NAT public IP of network 'vpc' (at line 8, column 25)")
        expectError(base + """
                nat: { public-ips: [203.0.113.1] }
            vpn-tunnels:
              - { name: o, network: vpc, listen: 203.0.113.1:51820, private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, peers: [] }
            """, prefix: "t.yaml:10:38: error: public address 203.0.113.1 (listen address of vpn tunnel 'o')", containing: "NAT public IP of network 'vpc'")
    }

    @Test func privateVIPMustBeAFreeSubnetAddress() {
        expectError(Self.twoInstances + """
            load-balancers:
              - { name: lb, vip: 10.0.9.9, listeners: [{ protocol: tcp, port: 80, targets: [a] }] }
            """, prefix: "t.yaml:12:22: error: private vip 10.0.9.9 of load balancer 'lb' is in no subnet", containing: "free address")
        expectError(Self.twoInstances + """
            load-balancers:
              - { name: lb, vip: 10.0.1.11, listeners: [{ protocol: tcp, port: 80, targets: [a] }] }
            """, "t.yaml:12:22: error: vip 10.0.1.11 of load balancer 'lb' is the ip of instance 'b'")
    }

    @Test func duplicateListener() {
        expectError(Self.twoInstances + """
            load-balancers:
              - name: lb
                vip: 10.0.1.100
                listeners:
                  - { protocol: tcp, port: 80, targets: [a] }
                  - { protocol: udp, port: 80, targets: [a] }
                  - { protocol: tcp, port: 80, targets: [b] }
            """, "t.yaml:17:32: error: load balancer 'lb' already has a tcp/80 listener (at line 15, column 32)")
    }

    @Test func allowedIPsOverlappingOwnNetwork() {
        expectError(base + """
            vpn-tunnels:
              - name: o
                network: vpc
                listen: 203.0.113.3:51820
                private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
                peers:
                  - { public-key: AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=, allowed-ips: [172.16.0.0/16, 10.0.128.0/17] }
            """, "t.yaml:14:98: error: allowed-ips 10.0.128.0/17 overlaps the tunnel's own network 'vpc' (10.0.0.0/16)")
    }

    @Test func allowedIPsOverlappingAnotherNetworkOrTunnel() {
        let found = errors("""
            version: 1
            name: t
            networks:
              - { name: vpc, cidr: 10.0.0.0/16, subnets: [ { name: app, cidr: 10.0.1.0/24 } ] }
              - { name: other, cidr: 10.1.0.0/16, subnets: [ { name: s, cidr: 10.1.1.0/24 } ] }
            vpn-tunnels:
              - name: o
                network: vpc
                listen: 203.0.113.3:51820
                private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
                peers:
                  - { public-key: AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=, allowed-ips: [172.16.0.0/12, 10.1.0.0/16] }
              - name: p
                network: vpc
                listen: 203.0.113.4:51820
                private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
                peers:
                  - { public-key: AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=, allowed-ips: [172.16.0.0/16] }
            """)
        #expect(found == [
            "t.yaml:12:98: error: allowed-ips 10.1.0.0/16 overlaps network 'other' (10.1.0.0/16) of this site",
            "t.yaml:18:83: error: allowed-ips 172.16.0.0/16 overlaps 172.16.0.0/12 of vpn tunnel 'o': a destination can route into one tunnel only",
        ])
    }

    /// Errors of every kind arrive together, in file order.
    @Test func severalErrorsAreAllReportedInOrder() {
        let found = errors("""
            version: 1
            name: t
            conntrack: { tcp-pickup: sometimes }
            networks:
              - name: vpc
                cidr: 10.0.0.0/16
                mode: nat-private
                subnets:
                  - { name: app, cidr: 10.0.1.0/24 }
                  - { name: db, cidr: 10.0.1.0/25 }
                nat: { public-ips: [203.0.113.1], colour: red }
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10, public-ip: 203.0.113.1 }
              - { name: b, network: vpc, subnet: app, ip: 10.0.3.1 }
            """)
        #expect(found == [
            "t.yaml:3:26: error: invalid tcp-pickup 'sometimes' for 'tcp-pickup': expected strict or loose",
            "t.yaml:10:27: error: subnet 'db' (10.0.1.0/25) overlaps subnet 'app' (10.0.1.0/24)",
            "t.yaml:11:39: error: unknown key 'colour' in nat (allowed: public-ips, ports, timeouts, filtering)",
            "t.yaml:13:69: error: public address 203.0.113.1 (public-ip of instance 'a') is already used as NAT public IP of network 'vpc' (at line 11, column 25)",
            "t.yaml:14:47: error: ip 10.0.3.1 of instance 'b' is outside subnet 'app' (10.0.1.0/24)",
        ])
    }
}

@Suite struct MoreErrorTests {
    @Test func publicIPNetworkDuplicateAddressIsOneError() {
        expectError("""
            version: 1
            name: t
            networks:
              - { name: dmz, cidr: 198.51.100.0/24, mode: public-ip, subnets: [{ name: s, cidr: 198.51.100.0/24 }] }
            instances:
              - { name: a, network: dmz, subnet: s, ip: 198.51.100.10 }
              - { name: b, network: dmz, subnet: s, ip: 198.51.100.10 }
            """, "t.yaml:7:45: error: ip 198.51.100.10 of instance 'b' is already used by instance 'a' (at line 6, column 45)")
    }

    @Test func emptySectionsAreEmptyButEmptyEgressIsAmbiguous() {
        #expect(load("version: 1\nname: t\nnetworks:\nevents:\n")?.networks.isEmpty == true)
        expectError("""
            version: 1
            name: t
            security-groups:
              - name: g
                ingress: []
                egress:
            """, prefix: "t.yaml:6:12: error: 'egress' has no value", containing: "write [] to deny all")
    }

    @Test func explicitMACCollision() {
        expectError(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10 }
              - { name: b, network: vpc, subnet: app, ip: 10.0.1.11, mac: "02:00:0a:00:01:0a" }
            """, "t.yaml:10:63: error: mac 02:00:0a:00:01:0a of instance 'b' is already used by instance 'a'")
    }

    @Test func loadsFromAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nimbus-topology-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("site.yaml").path
        try specExample.write(toFile: path, atomically: true, encoding: .utf8)
        let topology = try TopologyLoader.load(path: path)
        #expect(topology.file == path)
        #expect(topology.instances.count == 2)
    }
}

import NimbusWire

// Cross-checks for network ACLs: rule numbers within each list, and the subnets that name an ACL.
extension Validator {
    func checkNetworkACLs() {
        for acl in draft.networkACLs {
            let label = acl.name.map { "network ACL \(q($0.value))" } ?? "network ACL"
            checkRuleNumbers(acl.inbound, list: "inbound", of: label)
            checkRuleNumbers(acl.outbound, list: "outbound", of: label)
        }
        let aclNames = draft.networkACLs.compactMap(\.name?.value)
        let aclSet = Set(aclNames)
        for network in draft.networks {
            for subnet in network.subnets {
                if let ref = subnet.networkACL, !aclSet.contains(ref.value) {
                    unknown("network ACL", ref, among: aclNames)
                }
            }
        }
    }

    /// Rule numbers order evaluation, so two rules of one list may not share one; the repeat is
    /// reported, naming where the number was first used.
    func checkRuleNumbers(_ rules: [ACLRuleDraft], list: String, of label: String) {
        var seen: [Int: Position] = [:]
        for case let number? in rules.map(\.number) {
            if let first = seen[number.value] {
                sink.error(
                    "duplicate rule number \(number.value) in the \(list) rules of \(label) (first at \(first))",
                    at: number.position)
            } else {
                seen[number.value] = number.position
            }
        }
    }
}

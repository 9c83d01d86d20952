#ifndef NIMBUS_CPCAP_SHIM_H
#define NIMBUS_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif

// A minimal C++ client of qcss, as a Qserv service would write it.
#include <iostream>

#include "qcss/KvInterface.h"
#include "qcss/Open.h"

int main(int argc, char** argv) {
    std::string const url = argc > 1 ? argv[1] : "mem://";
    auto kv = qcss::open(url);
    kv->transaction()
            .create("/DBS/demo", "READY")
            .create("/DBS/demo/TABLES/Object", "READY")
            .commit();
    try {
        kv->set("/DBS/demo", "PENDING_DROP", /*version=*/7);
    } catch (qcss::VersionMismatchError const& e) {
        std::cout << "compare-and-set refused: " << e.what() << "\n";
    }
    for (auto const& name : kv->getChildren("/DBS/demo/TABLES")) std::cout << "table " << name << "\n";
    std::cout << "revision " << kv->revision() << "\n";
    return kv->get("/DBS/demo") == "READY" ? 0 : 1;
}

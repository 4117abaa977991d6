// Operator rows of the op table: build a degradation operator of a family and apply A, Aᵀ, A⁺ to tensors.
#include "binding/table.h"

namespace invdiff::binding {
namespace {

const std::vector<OpImpl> rows = {
    {"operatorFamilies", [](const Args&) -> Result { return operators::families(); }},
    {"operatorCreate",
     [](const Args& a) -> Result {
       const Options& o = a.options(1);
       const std::string& family = a.s(0);
       std::map<std::string, at::Tensor> tensors(a.named(2).begin(), a.named(2).end());
       return operators::create(family, o.list(family, "imageShape"), o.integer(family, "batch", 1), o.integer(family, "seed", 0),
                                o.number(family, "noiseStd", 0), o, tensors);
     }},
    {"operatorForward", [](const Args& a) -> Result { return a.op(0).forward(a.t(1)); }},
    {"operatorAdjoint", [](const Args& a) -> Result { return a.op(0).adjoint(a.t(1)); }},
    {"operatorPinv", [](const Args& a) -> Result { return a.op(0).pinv(a.t(1)); }},
    {"operatorNetworkPinv", [](const Args& a) -> Result { return a.op(0).networkPinv(a.t(1)); }},
    {"operatorProject", [](const Args& a) -> Result { return a.op(0).project(a.t(1), a.t(2), a.b(3)); }},
    {"operatorMeasure", [](const Args& a) -> Result { return a.op(0).measure(a.t(1), a.i64(2)); }},
    {"operatorInfo",
     [](const Args& a) -> Result {
       const auto& op = a.op(0);
       const auto& s = op.setup();
       Options facts;
       facts.strings["family"] = s.family;
       facts.lists["imageShape"] = s.imageShape;
       facts.lists["measurementShape"] = op.measurementShape();
       facts.numbers["batch"] = s.batch;
       facts.numbers["seed"] = s.seed;
       facts.numbers["noiseStd"] = s.noiseStd;
       facts.strings["pinv"] = op.pinvMethod();
       facts.flags["pinvExact"] = op.pinvExact();
       return Result::object(std::move(facts));
     }},
    {"sheppLogan", [](const Args& a) -> Result { return operators::sheppLogan(a.i64(0)).to(at::kFloat); }},
    {"operatorDispose",
     [](const Args& a) -> Result { return operatorHandles().release(static_cast<int64_t>(a.n(0))); }},
};

}  // namespace

const std::vector<OpImpl>& operatorOps() { return rows; }

}  // namespace invdiff::binding

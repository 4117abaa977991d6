// Operator rows of the op table: build a degradation operator of a family and apply A, Aᵀ, A⁺ to tensors.
#include <sstream>

#include "binding/table.h"
#include "core/samplers/step.h"

namespace invdiff::binding {
namespace {

constexpr auto In = Surface::Internal;

std::string shapeJson(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  return o.str() + "]";
}

const std::vector<OpDef> rows = {
    {"operatorFamilies", "", "S", In, false,
     [](const Args&) -> Result {
       std::string out;
       for (const auto& f : operators::families()) out += (out.empty() ? "" : ",") + f;
       return out;
     },
     "The operator families, comma-separated."},
    {"operatorCreate", "family:S options:Opt tensors:NT", "Op", In, false,
     [](const Args& a) -> Result {
       const Options& o = a.options(1);
       const std::string& family = a.s(0);
       std::map<std::string, at::Tensor> tensors(a.named(2).begin(), a.named(2).end());
       return operators::create(family, o.list(family, "imageShape"), o.integer(family, "batch", 1), o.integer(family, "seed", 0),
                                o.number(family, "noiseStd", 0), o, tensors);
     },
     "Builds an operator: options imageShape [C, H, W], batch, seed, noiseStd and the family's own; tensor options apart."},
    {"operatorForward", "op:Op x:T", "T", In, true, [](const Args& a) -> Result { return a.op(0).forward(a.t(1)); }, "A x"},
    {"operatorAdjoint", "op:Op y:T", "T", In, true, [](const Args& a) -> Result { return a.op(0).adjoint(a.t(1)); }, "Aᵀ y"},
    {"operatorPinv", "op:Op y:T", "T", In, true, [](const Args& a) -> Result { return a.op(0).pinv(a.t(1)); }, "A⁺ y"},
    {"operatorProject", "op:Op x:T y:T", "T", In, true, [](const Args& a) -> Result { return a.op(0).project(a.t(1), a.t(2)); },
     "x + A⁺(y − A x)"},
    {"operatorLangevin", "op:Op x:T center:T y:T lr:N priorStd:N dataStd:N steps:I seed:I", "T", In, true,
     [](const Args& a) -> Result { return samplers::langevin(a.op(0), a.t(1), a.t(2), a.t(3), a.n(4), a.n(5), a.n(6), a.i64(7), a.seed(8)); },
     "steps Langevin steps on exp(−‖A x − y‖²/(2 dataStd²) − ‖x − center‖²/(2 priorStd²)) at rate lr, noise keyed by seed + k."},
    {"operatorMeasure", "op:Op x:T | seed:I=0", "T", In, true, [](const Args& a) -> Result { return a.op(0).measure(a.t(1), a.i64(2)); },
     "A x plus Gaussian noise of the operator's noiseStd, seeded."},
    {"operatorInfo", "op:Op", "S", In, false,
     [](const Args& a) -> Result {
       const auto& op = a.op(0);
       const auto& s = op.setup();
       std::ostringstream o;
       o << "{\"family\":\"" << s.family << "\",\"imageShape\":" << shapeJson(s.imageShape) << ",\"measurementShape\":" << shapeJson(op.measurementShape())
         << ",\"batch\":" << s.batch << ",\"seed\":" << s.seed << ",\"noiseStd\":" << s.noiseStd << ",\"pinv\":\"" << op.pinvMethod() << "\",\"pinvExact\":" << (op.pinvExact() ? "true" : "false") << "}";
       return o.str();
     },
     "Facts of the operator as JSON."},
    {"sheppLogan", "size:I", "T", Surface::Function, false, [](const Args& a) -> Result { return operators::sheppLogan(a.i64(0)).to(at::kFloat); },
     "The modified Shepp–Logan phantom, 1×1×size×size in [0, 1] (float32), for CT."},
    {"operatorDispose", "handle:N", "B", In, false,
     [](const Args& a) -> Result { return operatorHandles().release(static_cast<int64_t>(a.n(0))); }, "Releases an operator handle."},
};

}  // namespace

const std::vector<OpDef>& operatorOps() { return rows; }

}  // namespace invdiff::binding

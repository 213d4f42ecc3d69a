-- Argo CD health check for a sipflow custom resource (SipApplication, IpAcl, SipCredential).
-- Healthy: the operator has seen the current generation and says Ready=True. Degraded: Ready=False,
-- with the operator's message. Progressing: anything else (no status yet, an older generation, Ready
-- missing or Unknown). Written for Argo CD's Lua 5.1 runtime without the standard libraries.
local hs = {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the sipflow operator to report status"
  return hs
end

local observed = obj.status.observedGeneration
if observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the sipflow operator to observe generation " .. generation
  else
    hs.message = "Waiting for the sipflow operator to observe the latest change"
  end
  return hs
end

local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

-- A Ready condition computed for an older generation says nothing about the current spec.
if ready.observedGeneration ~= nil and generation ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. generation
  return hs
end

local detail = ready.message
if detail == nil or detail == "" then
  detail = ready.reason or ""
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = detail
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = detail
else
  hs.status = "Progressing"
  if detail ~= "" then
    hs.message = detail
  else
    hs.message = "Ready is Unknown"
  end
end
return hs

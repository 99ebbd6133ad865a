"""PSA ticketing (HaloPSA, ConnectWise, Autotask): one small adapter per vendor behind `PsaAdapter`."""

from shared.models.tenant import PsaSystem

from .autotask import Autotask
from .base import CreatedTicket, PsaAdapter, PsaError, TicketRequest
from .connectwise import ConnectWise
from .halopsa import HaloPsa

ADAPTERS: dict[PsaSystem, PsaAdapter] = {
    PsaSystem.HALOPSA: HaloPsa(),
    PsaSystem.CONNECTWISE: ConnectWise(),
    PsaSystem.AUTOTASK: Autotask(),
}

__all__ = ["ADAPTERS", "CreatedTicket", "PsaAdapter", "PsaError", "TicketRequest"]

"""Pages: radiotherapy (to be filled)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

import aiomqtt

from tests.servers import Broker


async def test_mosquitto_round_trip(mosquitto: Broker) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe("smoke/test")
        await client.publish("smoke/test", b"hello")
        async for message in client.messages:
            assert message.payload == b"hello"
            break
